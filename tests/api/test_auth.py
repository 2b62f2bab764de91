import hashlib

import pytest

from recordings_portal.api.api import token_throttle
from recordings_portal.api.models import ApiToken
from recordings_portal.api.tokens import token_create, token_revoke
from recordings_portal.audit.models import AccessEvent

ENDPOINTS = ("/recordings", "/recordings/{pk}", "/recordings/{pk}/media")


@pytest.fixture
def recording(stored_recording):
    return stored_recording(format="wav", channels=1, duration=2)


def urls(recording):
    return [path.format(pk=recording.pk) for path in ENDPOINTS]


def last_call():
    return AccessEvent.objects.filter(action="api.call").order_by("-id").first()


# --- 401 ---------------------------------------------------------------------------------


def test_it_answers_401_without_a_token(api_for, recording, openapi):
    api = api_for(None)
    for url in urls(recording):
        response = api.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer" in response.json()["detail"]
    openapi.validate(api.get("/recordings"), "/api/v1/recordings")


@pytest.mark.parametrize(
    "header",
    ["Bearer rpt_not-a-real-token", "Bearer something-else", "Token rpt_abc", "Basic dXNlcjpwdw=="],
)
def test_it_answers_401_to_a_bad_token(client, recording, header):
    response = client.get(f"/api/v1/recordings/{recording.pk}", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_it_answers_401_to_a_revoked_token(api_for, users, recording):
    token, raw = token_create(user=users["supervisor"], name="old")
    api = api_for(None)
    assert api.get("/recordings", token=raw).status_code == 200
    token_revoke(token=token)
    for url in urls(recording):
        response = api.get(url, token=raw)
        assert response.status_code == 401
        assert response.json() == {"detail": "This API token was revoked."}
    event = last_call()
    assert event.outcome == "denied"
    assert event.details["token"] == token.pk  # a revoked token in use is worth seeing


def test_it_answers_401_when_the_tokens_user_is_deactivated(api_for, users):
    api = api_for("supervisor")
    users["supervisor"].is_active = False
    users["supervisor"].save()
    assert api.get("/recordings").status_code == 401


def test_it_ignores_the_session_cookie(client_for, recording):
    """A signed-in browser without a token is refused: no CSRF exposure through the session."""
    client = client_for("supervisor")
    assert client.get("/").status_code == 200  # signed in for the pages
    for url in urls(recording):
        assert client.get(f"/api/v1{url}").status_code == 401


def test_a_token_acts_as_its_user_even_when_another_is_signed_in(client_for, token_for):
    client = client_for("supervisor")  # session of a user who may browse
    raw = token_for("auditor")  # token of one who may not
    response = client.get("/api/v1/recordings", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    assert last_call().actor_username == "auditor-user"


# --- 403 and 200 per role ----------------------------------------------------------------


def test_it_refuses_auditors_with_403(api_for, recording, openapi):
    api = api_for("auditor")
    for url in urls(recording):
        response = api.get(url)
        assert response.status_code == 403
        assert "may not" in response.json()["detail"]
    openapi.validate(api.get(f"/recordings/{recording.pk}"), "/api/v1/recordings/{recording_id}")


@pytest.mark.parametrize("role", ["supervisor", "compliance", "admin"])
def test_roles_that_may_browse_and_play_get_everything(api_for, recording, role):
    api = api_for(role)
    for url in urls(recording):
        assert api.get(url).status_code == 200


def test_a_user_who_may_browse_but_not_play_gets_403_on_media_only(make_user, api_for, recording):
    from django.contrib.auth.models import Permission

    user = make_user("browser")
    user.user_permissions.add(Permission.objects.get(codename="browse_recordings"))
    raw = token_create(user=user, name="browse only")[1]
    api = api_for(None)
    assert api.get(f"/recordings/{recording.pk}", token=raw).status_code == 200
    assert api.get(f"/recordings/{recording.pk}/media", token=raw).status_code == 403


# --- tokens are kept hashed, used, audited ------------------------------------------------


def test_it_keeps_only_the_tokens_sha256(users):
    token, raw = token_create(user=users["supervisor"], name="script")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix) and len(stored.prefix) < len(raw) / 3


def test_it_notes_when_a_token_was_last_used(api_for, users):
    api = api_for("supervisor")
    token = ApiToken.objects.get(user=users["supervisor"])
    assert token.last_used_at is None
    api.get("/recordings")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_every_call_is_one_api_call_event(api_for, users, recording):
    api = api_for("supervisor")
    token = ApiToken.objects.get(user=users["supervisor"])
    before = AccessEvent.objects.count()

    api.get("/recordings", {"q": "nothing-like-this", "state": "available"})
    event = last_call()
    assert (event.action, event.outcome, event.actor_username) == (
        "api.call",
        "success",
        "supervisor-user",
    )
    assert event.details["path"] == "/api/v1/recordings"
    assert event.details["token"] == token.pk
    assert event.details["status"] == 200
    assert event.details["query"] == {"q": "nothing-like-this", "state": "available"}

    api.get(f"/recordings/{recording.pk}/media", HTTP_RANGE="bytes=0-99")
    event = last_call()
    assert (event.object_type, event.object_id) == ("catalog.recording", str(recording.pk))
    assert event.details["status"] == 206 and event.details["range"] == "bytes=0-99"

    api.get("/recordings/999999")
    assert (last_call().outcome, last_call().details["status"]) == ("failure", 404)

    api_for(None).get("/recordings")
    event = last_call()
    assert (event.outcome, event.actor, event.details["token"]) == ("denied", None, None)

    api_for("auditor").get("/recordings")
    assert (last_call().outcome, last_call().actor_username) == ("denied", "auditor-user")

    assert AccessEvent.objects.count() == before + 5  # one per call, nothing else


def test_it_throttles_each_token(api_for, monkeypatch):
    monkeypatch.setattr(token_throttle, "num_requests", 2)
    api, other = api_for("supervisor"), api_for("compliance")
    assert [api.get("/recordings").status_code for _ in range(3)] == [200, 200, 429]
    assert int(api.get("/recordings")["Retry-After"]) > 0
    assert other.get("/recordings").status_code == 200  # per token, not for everyone
    assert last_call().outcome == "success"


# --- the OpenAPI document ---------------------------------------------------------------


def test_the_openapi_document_is_for_signed_in_users_and_token_holders(client, users, token_for):
    assert client.get("/api/v1/openapi.json").status_code == 302  # to sign in
    bad = client.get("/api/v1/openapi.json", HTTP_AUTHORIZATION="Bearer rpt_wrong")
    assert bad.status_code == 401
    good = client.get("/api/v1/openapi.json", HTTP_AUTHORIZATION=f"Bearer {token_for('admin')}")
    assert good.status_code == 200
    document = good.json()
    assert set(document["paths"]) == {
        "/api/v1/recordings",
        "/api/v1/recordings/{recording_id}",
        "/api/v1/recordings/{recording_id}/media",
    }
    assert document["components"]["securitySchemes"] == {
        "BearerToken": {"type": "http", "scheme": "bearer"}
    }
    client.force_login(users["auditor"])
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 404  # no docs page: it needs inline script
