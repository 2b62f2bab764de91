"""Refusals are access events too: auditors ask who tried to reach what they may not."""

from django.core.exceptions import PermissionDenied

from .log import record
from .models import Outcome


class DeniedAccessMiddleware:
    """Records `access.denied` when a view refuses a signed-in user (PermissionDenied, 403).

    Anonymous requests are sent to sign in before any view runs and are not recorded: that is
    every crawler's first request, and a failed sign-in is recorded on its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, PermissionDenied) and request.user.is_authenticated:
            match = request.resolver_match
            record(
                "access.denied",
                request=request,
                outcome=Outcome.DENIED,
                object_type="url",
                object_id=request.path[:200],
                details={"method": request.method, "view": match.view_name if match else ""},
            )
        return None  # Django answers 403 as before
