"""The auditors' pages: the access log with filters, who accessed a recording, what a user
accessed, verifying the chain, and exports with their manifests.

Reading the log is itself an access event (`audit.view`), and so are verifying (`audit.verify`)
and exporting (`audit.export`). Each page renders whole, or for htmx only its results partial;
the filters and the page's cursor are always in the URL.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from recordings_portal.accounts.roles import capability

from . import selectors
from .exports import FORMATS, ExportSpec, ExportStream, build_manifest, manifest_bytes
from .forms import KNOWN_ACTIONS, FilterForm
from .log import record, record_verification, verify

VIEW, EXPORT = "audit.view_access_log", "audit.export_access_log"


def _cursor(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def _listing(request, path: str, form: FilterForm, fixed: dict, scope: dict) -> dict:
    """Context for the results partial: one page of events, pager and export links.

    Records the reading as `audit.view`, with what was asked for.
    """
    if not form.is_valid():
        return {"form": form, "invalid": True}
    filters = form.filters(**fixed)
    before, after = _cursor(request, "before"), _cursor(request, "after")
    result = selectors.page(filters, before=before, after=after)
    query = form.filters().as_query()  # what the user chose: the scope is in the path

    def link(**cursor) -> str:
        params = urlencode({**query, **cursor})
        return f"{path}?{params}" if params else path

    details = {**scope, "filters": filters.describe(), "shown": len(result.events)}
    details.update({key: value for key, value in (("before", before), ("after", after)) if value})
    record("audit.view", request=request, details=details)
    return {
        "form": form,
        "filters": filters,
        "page": result,
        "newest_url": link(),
        "newer_url": link(after=result.newer) if result.newer else "",
        "older_url": link(before=result.older) if result.older else "",
        "export_links": _export_links(filters) if request.user.has_perm(EXPORT) else [],
        "contiguous": filters.contiguous,
    }


def _export_links(filters) -> list[tuple[str, str, str]]:
    """(label, file URL, manifest URL) per format, pinned to the newest event now, so the file
    and the manifest fetched later describe the same events."""
    pinned = {**filters.as_query(), "through": selectors.tip_id() or 0}
    return [
        (
            file_format.upper(),
            f"{reverse('audit:export')}?{urlencode({**pinned, 'format': file_format})}",
            f"{reverse('audit:export-manifest')}?{urlencode({**pinned, 'format': file_format})}",
        )
        for file_format in FORMATS
    ]


def _events_only(request) -> bool:
    """The pager swaps the events alone; the filters swap the summary above them too."""
    return bool(request.htmx) and request.htmx.target == "access-results"


def _render(request, template: str, context: dict):
    context.setdefault("known_actions", KNOWN_ACTIONS)
    if not request.htmx:
        return render(request, template, context)
    if _events_only(request):
        return render(request, f"{template}#events", context)
    response = render(request, f"{template}#results", context)
    if context.get("newest_url"):
        # The address bar shows the filters in use, not every empty field of the form.
        response["HX-Push-Url"] = context["newest_url"]
    return response


@capability(VIEW)
@require_GET
def log(request):
    form = FilterForm(request.GET, exclude=("actor_id",))
    context = _listing(request, reverse("audit:log"), form, {}, {"scope": "log"})
    return _render(request, "audit/log.html", context)


@capability(VIEW)
@require_GET
def recording(request, recording_id: int):
    """Who accessed this recording: per person, then every event."""
    from recordings_portal.catalog.models import Recording

    item = Recording.objects.select_related("account").filter(pk=recording_id).first()
    form = FilterForm(request.GET, exclude=("recording", "vendor_account", "actor_id"))
    path = reverse("audit:recording", args=[recording_id])
    scope = {"scope": "recording", "recording": recording_id}
    context = _listing(request, path, form, {"recording": recording_id}, scope)
    context.update({"recording": item, "recording_id": recording_id})
    if not context.get("invalid") and not _events_only(request):
        context["actors"] = selectors.who_accessed(context["filters"])
    return _render(request, "audit/recording.html", context)


@capability(VIEW)
@require_GET
def user(request, user_id: int):
    """What this user accessed: per object, then every event."""
    person = get_object_or_404(get_user_model(), pk=user_id)
    form = FilterForm(request.GET, exclude=("actor", "actor_id"))
    path = reverse("audit:user", args=[user_id])
    fixed = {"actor_id": user_id}
    context = _listing(request, path, form, fixed, {"scope": "user", "user": user_id})
    context["person"] = person
    if not context.get("invalid") and not _events_only(request):
        context["objects"], context["more_objects"] = selectors.what_accessed(context["filters"])
    return _render(request, "audit/user.html", context)


@capability(VIEW)
@require_POST
def verify_chain(request):
    """Recompute the whole chain now; the result is itself recorded."""
    result = verify()
    record_verification(result, request=request)
    if request.htmx:
        context = {"verification": result, "verification_text": verification_text(result)}
        return render(request, "audit/log.html#verify-result", context)
    (messages.success if result.intact else messages.error)(request, verification_text(result))
    return redirect("audit:log")


def verification_text(result) -> str:
    if not result.intact:
        return f"Broken at event #{result.broken_id}: {result.reason}."
    if not result.checked:
        return "The access log is empty."
    events = "event" if result.checked == 1 else "events"
    return f"Intact through event #{result.last_good_id} ({result.checked} {events})."


# --- exports -----------------------------------------------------------------------------


def _export_spec(request) -> ExportSpec | HttpResponse:
    form = FilterForm(request.GET)
    file_format = request.GET.get("format", "jsonl")
    if file_format not in FORMATS:
        return HttpResponseBadRequest("format must be csv or jsonl\n", content_type="text/plain")
    if not form.is_valid():
        return HttpResponseBadRequest(f"{form.error_text}\n", content_type="text/plain")
    return ExportSpec.pinned(form.filters(), file_format, _cursor(request, "through"))


def _export_details(spec: ExportSpec, part: str, count: int) -> dict:
    return {
        "part": part,
        "format": spec.format,
        "filters": spec.filters.describe(),
        "contiguous": spec.filters.contiguous,
        "through": spec.through,
        "count": count,
    }


@capability(EXPORT)
@require_GET
def export(request):
    """The filtered range as CSV or JSON Lines, streamed: a batch of rows in memory at a time.

    Pinned to `through` (default: the newest event now), so its manifest can be fetched
    afterwards for exactly these bytes.
    """
    spec = _export_spec(request)
    if isinstance(spec, HttpResponse):
        return spec
    record("audit.export", request=request, details=_export_details(spec, "file", spec.count()))
    response = StreamingHttpResponse(ExportStream(spec), content_type=spec.content_type)
    response["Content-Disposition"] = f'attachment; filename="{spec.filename}"'
    response["X-Access-Log-Through"] = str(spec.through)
    response["Cache-Control"] = "no-store"
    return response


@capability(EXPORT)
@require_GET
def export_manifest(request):
    """The manifest of the export with the same parameters (its `through` included)."""
    spec = _export_spec(request)
    if isinstance(spec, HttpResponse):
        return spec
    manifest = build_manifest(spec, created_by=request.user.get_username())
    details = _export_details(spec, "manifest", manifest["count"])
    record("audit.export", request=request, details=details)
    response = HttpResponse(manifest_bytes(manifest), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{spec.filename}.manifest.json"'
    response["Cache-Control"] = "no-store"
    return response
