import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from recordings_portal.api.models import ApiToken
from recordings_portal.api.tokens import MAX_ACTIVE_TOKENS, digest, token_create
from recordings_portal.audit.models import AccessEvent

TOKENS = "/api/tokens/"


def test_it_creates_a_token_and_shows_it_once(client_for, users, api_for):
    client = client_for("supervisor")
    response = client.post(TOKENS, {"name": "Weekly QA export"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=users["supervisor"])
    raw = response.context["created"]["raw"]
    assert raw.encode() in response.content
    assert token.digest == digest(raw) and token.name == "Weekly QA export"
    assert "no-store" in response["Cache-Control"]
    # It works, and the list shows only its first characters from now on.
    assert api_for(None).get("/recordings", token=raw).status_code == 200
    again = client.get(TOKENS)
    assert raw.encode() not in again.content
    assert token.prefix.encode() in again.content
    event = AccessEvent.objects.get(action="api_token.create")
    assert event.actor_username == "supervisor-user"
    assert raw not in str(event.details)


def test_it_refuses_a_token_without_a_name(client_for):
    response = client_for("supervisor").post(TOKENS, {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_it_limits_active_tokens_per_user(client_for, users):
    for n in range(MAX_ACTIVE_TOKENS):
        token_create(user=users["compliance"], name=f"t{n}")
    response = client_for("compliance").post(TOKENS, {"name": "one too many"})
    assert response.status_code == 400
    assert b"Revoke one" in response.content


def test_it_revokes_ones_own_token(client_for, users, api_for):
    token, raw = token_create(user=users["admin"], name="old script")
    client = client_for("admin")
    response = client.post(reverse("api:token-revoke", args=[token.pk]), follow=True)
    assert b"Revoked" in response.content
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_for(None).get("/recordings", token=raw).status_code == 401
    assert AccessEvent.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()


def test_nobody_revokes_another_users_token(client_for, users):
    token, _ = token_create(user=users["supervisor"], name="mine")
    response = client_for("admin").post(reverse("api:token-revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_page_lists_only_ones_own_tokens(client_for, users):
    token_create(user=users["supervisor"], name="supervisor's script")
    token_create(user=users["admin"], name="admin's script")
    response = client_for("supervisor").get(TOKENS)
    assert b"supervisor&#x27;s script" in response.content
    assert b"admin&#x27;s script" not in response.content


def test_auditors_have_no_token_page(client_for):
    assert client_for("auditor").get(TOKENS).status_code == 403
    assert client_for("auditor").post(TOKENS, {"name": "x"}).status_code == 403


# --- the command -------------------------------------------------------------------------


def test_the_command_prints_a_working_token(users, api_for, capsys):
    call_command("create_api_token", "supervisor-user", "--name", "nightly export")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=users["supervisor"])
    assert (token.name, token.digest) == ("nightly export", digest(raw))
    assert api_for(None).get("/recordings", token=raw).status_code == 200
    assert AccessEvent.objects.filter(action="api_token.create", actor=None).exists()


def test_the_command_warns_when_the_user_may_not_use_the_api(users, capsys):
    call_command("create_api_token", "auditor-user")
    assert "403" in capsys.readouterr().err


@pytest.mark.parametrize("username", ["nobody", "inactive"])
def test_the_command_refuses_unknown_or_deactivated_users(make_user, username):
    make_user("inactive", "supervisor", is_active=False)
    with pytest.raises(CommandError):
        call_command("create_api_token", username)
