from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .log import record
from .models import Outcome


@receiver(user_logged_in, dispatch_uid="audit.login")
def _login(sender, request, user, **kwargs):
    record("auth.login", request=request, actor=user, obj=user)


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logout(sender, request, user, **kwargs):
    if user is not None:
        record("auth.logout", request=request, actor=user, obj=user)


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked anything password-like in `credentials`.
    username = str(credentials.get("username", ""))[:150]
    record(
        "auth.login_failed",
        request=request,
        outcome=Outcome.FAILURE,
        object_type="auth.user",
        object_id=username,
        details={"username": username},
    )
