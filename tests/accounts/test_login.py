from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from tests.conftest import PASSWORD


def test_a_login_is_recorded(client, users):
    response = client.post(
        reverse("accounts:login"),
        {"username": "supervisor-user", "password": PASSWORD},
        HTTP_USER_AGENT="Firefox/140",
    )
    assert response.status_code == 302
    event = AccessEvent.objects.get(action="auth.login")
    assert event.actor == users["supervisor"]
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "Firefox/140"


def test_a_failed_login_is_recorded_without_the_password(client, users):
    response = client.post(
        reverse("accounts:login"), {"username": "supervisor-user", "password": "wrong guess"}
    )
    assert response.status_code == 200
    assert b"do not match" in response.content
    event = AccessEvent.objects.get(action="auth.login_failed")
    assert event.outcome == "failure"
    assert event.actor is None
    assert event.details == {"username": "supervisor-user"}
    assert "wrong guess" not in str(event.details)


def test_a_logout_is_recorded(client, users):
    client.force_login(users["auditor"])
    client.post(reverse("accounts:logout"))
    assert AccessEvent.objects.filter(action="auth.logout", actor=users["auditor"]).exists()


def test_the_login_page_is_served_without_a_session(client, db):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
