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
