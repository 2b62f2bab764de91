"""Login throttling (django-axes): which address a request comes from, and lockouts audited."""

from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver

from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome


def client_ip(request) -> str:
    """The client's address: the proxy's X-Forwarded-For only when we are behind one."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


@receiver(user_locked_out, dispatch_uid="accounts.lockout")
def _locked_out(sender, request, username, ip_address, **kwargs):
    record(
        "auth.lockout",
        request=request,
        outcome=Outcome.DENIED,
        object_type="auth.user",
        object_id=str(username or "")[:150],
        details={"username": str(username or "")[:150], "ip": ip_address},
    )
