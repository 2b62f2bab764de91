"""Who is calling the API: a bearer token, never the browser session.

Only `Authorization: Bearer <token>` authenticates. A session cookie is ignored (the request's
user is reset before the token is read), so a page on another site cannot make a signed-in
browser call the API, and CSRF, a cookie problem, does not arise.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from ninja.errors import HttpError
from ninja.security import HttpBearer

from .tokens import TokenRefused, token_authenticate

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="api"'}


class BearerToken(HttpBearer):
    def __call__(self, request):
        request.user = AnonymousUser()  # the session plays no part in the API
        return super().__call__(request)

    def authenticate(self, request, token: str):
        try:
            api_token = token_authenticate(token)
        except TokenRefused as refused:
            # For the 401's message and the access log: a revoked token in use is worth seeing.
            request.token_refused = refused
            return None
        request.user = api_token.user
        return api_token


bearer = BearerToken()


def refusal(request) -> str:
    refused = getattr(request, "token_refused", None)
    if refused is not None:
        return str(refused)
    return "Send an API token: `Authorization: Bearer <token>`."


def unauthorized_response(request) -> JsonResponse:
    return JsonResponse({"detail": refusal(request)}, status=401, headers=UNAUTHORIZED_HEADERS)


def require_permission(request, permission: str, doing: str) -> None:
    """403 unless the token's user holds `permission` (the same rule as the pages)."""
    if not request.user.has_perm(permission):
        raise HttpError(403, f"Your role may not {doing}.")


def schema_access(view):
    """The OpenAPI document: for a signed-in browser, or for a client with a valid token.

    It describes the API, not any recording, so the session may read it (nothing changes).
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if "Authorization" in request.headers:
            if bearer(request) is not None:
                return view(request, *args, **kwargs)
            return unauthorized_response(request)
        return redirect_to_login(request.get_full_path())

    wrapper.login_required = False  # it answers anonymous callers itself
    return wrapper
