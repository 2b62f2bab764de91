from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from tests.conftest import PASSWORD


def attempt(client, password):
    return client.post(
        reverse("accounts:login"), {"username": "supervisor-user", "password": password}
    )


def test_repeated_failures_lock_the_username_out_even_with_the_right_password(
    client, users, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong guess")
    locked = attempt(client, PASSWORD)
    assert locked.status_code in (403, 429)
    assert b"locked" in locked.content
    assert "_auth_user_id" not in client.session
    event = AccessEvent.objects.filter(action="auth.lockout").first()  # and one per attempt after
    assert event.outcome == "denied"
    assert event.details["username"] == "supervisor-user"
    assert AccessEvent.objects.filter(action="auth.login_failed").count() >= 4


def test_a_success_before_the_limit_resets_the_count(client, users, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong guess")
    assert attempt(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong guess")
    assert attempt(client, PASSWORD).status_code == 302
    assert not AccessEvent.objects.filter(action="auth.lockout").exists()


def test_another_username_from_the_same_address_is_not_locked(client, users, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        attempt(client, "wrong guess")
    response = client.post(
        reverse("accounts:login"), {"username": "auditor-user", "password": PASSWORD}
    )
    assert response.status_code == 302


BEHIND_PROXY = ("HTTP_X_FORWARDED_PROTO", "https")


def test_behind_the_proxy_a_forged_forwarded_for_does_not_dodge_the_lockout(
    client, users, settings
):
    # The client writes what it likes into X-Forwarded-For; nginx appends the address it saw.
    settings.SECURE_PROXY_SSL_HEADER = BEHIND_PROXY
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("accounts:login"),
            {"username": "supervisor-user", "password": "wrong guess"},
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 203.0.113.7",
            secure=True,
        )
    locked = client.post(
        reverse("accounts:login"),
        {"username": "supervisor-user", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.99, 203.0.113.7",
        secure=True,
    )
    assert b"locked" in locked.content
    assert "_auth_user_id" not in client.session
    failed = AccessEvent.objects.filter(action="auth.login_failed")
    assert set(failed.values_list("ip", flat=True)) == {"203.0.113.7"}


def test_without_a_proxy_forwarded_for_is_ignored(client, users, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    client.post(
        reverse("accounts:login"),
        {"username": "supervisor-user", "password": "wrong guess"},
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    assert AccessEvent.objects.get(action="auth.login_failed").ip == "127.0.0.1"
