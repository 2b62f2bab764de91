"""Login throttling (django-axes): lockouts recorded in the access log."""

from axes.signals import user_locked_out
from django.dispatch import receiver

from recordings_portal.audit.log import record
from recordings_portal.audit.models import Outcome


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
