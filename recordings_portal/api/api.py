"""The read-only JSON API, /api/v1/: search, one recording, its audio.

Bearer tokens only (auth.py); the same permissions as the pages; every call, refused ones
included, is one `api.call` event in the access log; calls are throttled per token.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError
from ninja.throttling import SimpleRateThrottle

from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome
from recordings_portal.catalog import selectors
from recordings_portal.catalog.models import Recording
from recordings_portal.catalog.views import media

from .auth import bearer, require_permission, schema_access, unauthorized_response
from .schemas import (
    Problem,
    RecordingDetailOut,
    RecordingPage,
    RecordingQuery,
    ValidationProblem,
)

THROTTLE_RATE = "600/min"
BROWSE, PLAY = "catalog.browse_recordings", "catalog.play_recording"
# What RecordingOut reads; loaded whatever the search page's own list needs.
LIST_FIELDS = (
    *("account__name", "account__kind", "external_id", "vendor_call_id", "started_at"),
    *("duration", "direction", "caller", "callee", "format", "channels", "sample_rate"),
    *("size", "sha256", "state", "legal_hold", "storage_key", "downloaded_at"),
)
REFUSED = {401: Problem, 403: Problem, 422: ValidationProblem, 429: Problem}


class TokenThrottle(SimpleRateThrottle):
    """So many calls per token: one runaway script cannot take the portal's time from others."""

    scope = "api-token"

    def get_cache_key(self, request):
        token = getattr(request, "auth", None)
        return None if token is None else f"throttle:api-token:{token.pk}"


class PortalAPI(NinjaAPI):
    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            # The API answers 401 itself: LoginRequiredMiddleware must not send it to sign-in.
            login_not_required(pattern.callback)
        return patterns


token_throttle = TokenThrottle(THROTTLE_RATE)
api = PortalAPI(
    title="Recordings Portal API",
    version="1",
    description="Read-only access to the recordings catalog. "
    "Authenticate with `Authorization: Bearer <token>`; create a token on /api/tokens/.",
    urls_namespace="api:v1",
    auth=bearer,
    throttle=[token_throttle],
    docs_url=None,  # Swagger UI needs inline script, which the portal's CSP refuses
    docs_decorator=schema_access,
)


@api.exception_handler(AuthenticationError)
def unauthorized(request, exc):
    return unauthorized_response(request)


# --- the access log ---------------------------------------------------------------------


def _outcome(status: int) -> str:
    if status < 400:
        return Outcome.SUCCESS
    return Outcome.DENIED if status in (401, 403, 429) else Outcome.FAILURE


def _audit(request, kwargs: dict, status: int) -> None:
    token, refused = getattr(request, "auth", None), getattr(request, "token_refused", None)
    details = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "token": token.pk if token is not None else getattr(refused, "token_id", None),
    }
    if refused is not None:
        details["refused"] = str(refused)
    if request.GET:
        details["query"] = request.GET.dict()
    if "Range" in request.headers:
        details["range"] = request.headers["Range"][:100]
    recording_id = kwargs.get("recording_id")
    record(
        "api.call",
        request=request,
        object_type="catalog.recording" if recording_id is not None else "",
        object_id=str(recording_id)[:50] if recording_id is not None else "",
        outcome=_outcome(status),
        details=details,
    )


def audited(run):
    """Around each operation, authentication included: one `api.call` event per call."""

    @wraps(run)
    def wrapper(request, **kwargs):
        try:
            response = run(request, **kwargs)
        except Exception:
            _audit(request, kwargs, 500)
            raise
        _audit(request, kwargs, response.status_code)
        return response

    return wrapper


def not_shared(run):
    """Recordings' metadata is personal data: no cache between the portal and the client keeps
    it (media sets its own, stricter-than-default, Cache-Control)."""

    @wraps(run)
    def wrapper(request, **kwargs):
        response = run(request, **kwargs)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapper


api.add_decorator(audited, mode="view")
api.add_decorator(not_shared, mode="view")


# --- operations ---------------------------------------------------------------------------


@api.get(
    "/recordings",
    response={200: RecordingPage, 400: Problem, **REFUSED},
    summary="Search recordings",
)
def list_recordings(request, params: Query[RecordingQuery]):
    """The search page's filters and sort orders, a page at a time: pass `next` as `cursor`."""
    require_permission(request, BROWSE, "search recordings")
    cursor = None
    if params.cursor:
        try:
            cursor = selectors.Cursor.decode(params.cursor, params.sort)
        except selectors.InvalidCursor as exc:
            raise HttpError(400, str(exc)) from None
    queryset = selectors.recordings_matching(params.filters()).only(*LIST_FIELDS)
    page = selectors.keyset_page(queryset, sort=params.sort, size=params.limit, after=cursor)
    return {"items": page.rows, "next": page.next.encode() if page.next else None}


@api.get(
    "/recordings/{recording_id}",
    response={200: RecordingDetailOut, 404: Problem, **REFUSED},
    summary="One recording",
)
def get_recording(request, recording_id: int):
    require_permission(request, BROWSE, "see recordings")
    return get_object_or_404(Recording.objects.select_related("account"), pk=recording_id)


@api.get(
    "/recordings/{recording_id}/media",
    response={404: Problem, **REFUSED},
    summary="A recording's audio",
    openapi_extra={
        "responses": {
            200: {"description": "The whole file", "content": {"audio/*": {}}},
            206: {"description": "The byte range asked for", "content": {"audio/*": {}}},
            304: {"description": "Not modified since the validators sent (If-None-Match, …)"},
            412: {"description": "A precondition (If-Match, If-Unmodified-Since) failed"},
            416: {"description": "The range asked for is outside the file"},
        }
    },
)
def get_recording_media(request, recording_id: int):
    """The stored file (masked, once masked), with Range and conditional requests."""
    require_permission(request, PLAY, "play recordings")
    try:
        recording = media.playable_or_404(recording_id)
    except Http404:
        raise HttpError(404, "This recording has no stored audio.") from None
    # The api.call event is the record of this access; the page's per-listening events
    # would only repeat it.
    return media._serve(request, recording, disposition="attachment", audit=_no_event)


def _no_event(request, recording, first: int, mode: str) -> None:
    pass
