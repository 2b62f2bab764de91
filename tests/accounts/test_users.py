import contextlib
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from recordings_portal.accounts import services
from recordings_portal.audit.log import record, verify
from recordings_portal.audit.models import AccessEvent
from tests.conftest import PASSWORD, ROLE_NAMES

STRONG = "quiet lantern over Harbour 7"
NON_ADMINS = [role for role in ROLE_NAMES if role != "admin"]

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks between connections need PostgreSQL"
)


def url(name, user=None):
    return reverse(f"accounts:{name}", kwargs={"pk": user.pk} if user is not None else None)


def roles(user):
    return services.roles_of(user)


def events(action):
    return list(AccessEvent.objects.filter(action=action).order_by("id"))


def new_user_data(**overrides):
    data = {
        "username": "dana",
        "first_name": "Dana",
        "last_name": "Reyes",
        "email": "dana@example.com",
        "roles": ["supervisor", "compliance"],
        "access": "password",
        "password1": STRONG,
        "password2": STRONG,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def edit_data(user, **overrides):
    data = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "roles": roles(user),
    }
    data.update(overrides)
    return data


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def subject(make_user):
    return make_user("sam", "supervisor", first_name="Sam", last_name="Lee", email="sam@x.org")


# --- who may ---------------------------------------------------------------------------------

CHANGES = [
    ("user_add", False, lambda subject: new_user_data()),
    ("user_edit", True, lambda subject: edit_data(subject, roles=["admin"])),
    ("user_deactivate", True, lambda subject: {}),
    ("user_reactivate", True, lambda subject: {}),
    ("user_link", True, lambda subject: {}),
]


@pytest.mark.parametrize("role", NON_ADMINS)
@pytest.mark.parametrize(("name", "per_user", "data"), CHANGES)
def test_it_refuses_every_change_to_other_roles(client_for, subject, role, name, per_user, data):
    client = client_for(role)  # signing in sets last_login: take the picture after it
    before = list(User.objects.order_by("pk").values())
    response = client.post(url(name, subject if per_user else None), data(subject))
    assert response.status_code == 403
    assert list(User.objects.order_by("pk").values()) == before
    assert roles(subject) == ["supervisor"]
    assert not AccessEvent.objects.filter(action__startswith="user.").exists()


@pytest.mark.parametrize("role", NON_ADMINS)
def test_it_keeps_the_users_link_out_of_other_roles_navigation(client_for, role):
    assert b">Users</a>" not in client_for(role).get(reverse("dashboard:home")).content


def test_it_shows_admins_the_users_link(admin):
    assert b">Users</a>" in admin.get(reverse("dashboard:home")).content


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("user_edit", "get"),
        ("user_edit", "post"),
        ("user_deactivate", "post"),
        ("user_reactivate", "post"),
        ("user_link", "post"),
    ],
)
def test_it_answers_404_for_unknown_users(admin, name, method):
    missing = reverse(f"accounts:{name}", kwargs={"pk": 987654})
    assert getattr(admin, method)(missing).status_code == 404


@pytest.mark.parametrize("name", ["user_deactivate", "user_reactivate", "user_link"])
def test_it_changes_nothing_on_get(admin, subject, name):
    assert admin.get(url(name, subject)).status_code == 405
    subject.refresh_from_db()
    assert subject.is_active and subject.has_usable_password()


# --- list ------------------------------------------------------------------------------------


def test_it_lists_users_with_their_roles_status_and_last_sign_in(admin, users, make_user):
    sam = make_user("sam", "supervisor", "auditor", first_name="Sam", email="sam@x.org")
    make_user("gone", "supervisor", is_active=False)
    User.objects.filter(pk=sam.pk).update(last_login=datetime(2025, 3, 4, 5, 6, tzinfo=UTC))
    html = admin.get(url("users")).content.decode()
    row = html[html.index(">sam</a>") :].split("</tr>")[0]
    assert "Sam" in row and "sam@x.org" in row
    assert ">auditor</span>" in row and ">supervisor</span>" in row
    assert "active" in row and "2025-03-04 05:06" in row
    gone = html[html.index(">gone</a>") :].split("</tr>")[0]
    assert "deactivated" in gone and "never" in gone


def test_it_filters_by_role_and_status(admin, users, make_user):
    make_user("gone", "supervisor", is_active=False)
    html = admin.get(url("users"), {"role": "supervisor"}).content.decode()
    assert ">supervisor-user</a>" in html and ">gone</a>" in html
    assert ">auditor-user</a>" not in html
    html = admin.get(url("users"), {"role": "supervisor", "active": "no"}).content.decode()
    assert ">gone</a>" in html and ">supervisor-user</a>" not in html
    html = admin.get(url("users"), {"active": "yes"}).content.decode()
    assert ">gone</a>" not in html and ">admin-user</a>" in html


def test_it_says_when_no_user_matches(admin, users):
    response = admin.get(url("users"), {"role": "auditor", "active": "no"})
    assert b"No users match these filters" in response.content
    assert b"Show all users" in response.content


def test_it_answers_htmx_with_the_list_only(admin, users):
    response = admin.get(url("users"), {"role": "admin"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="users">')
    assert "<html" not in html and ">admin-user</a>" in html


def test_it_lists_in_a_constant_number_of_queries(
    admin, users, make_user, django_assert_max_num_queries
):
    for n in range(30):
        make_user(f"user-{n}", "supervisor", "compliance")
    with django_assert_max_num_queries(12):
        response = admin.get(url("users"))
    assert response.content.count(b"<tr>") == 35  # header + 34 users


def test_its_pages_have_no_inline_scripts_or_styles(admin, subject):
    for page in (url("users"), url("user_add"), url("user_edit", subject)):
        html = admin.get(page).content.decode()
        assert "<script>" not in html and " style=" not in html and " on" + "click=" not in html


# --- create ----------------------------------------------------------------------------------


def test_it_creates_a_user_with_a_password_and_roles(admin, users, client):
    response = admin.post(url("user_add"), new_user_data())
    dana = User.objects.get(username="dana")
    assert response.status_code == 302
    assert response["Location"] == url("user_edit", dana)
    assert (dana.first_name, dana.last_name, dana.email) == ("Dana", "Reyes", "dana@example.com")
    assert roles(dana) == ["compliance", "supervisor"]
    assert dana.is_active and dana.check_password(STRONG)
    (event,) = events("user.create")
    assert event.actor == users["admin"]
    assert event.object_id == str(dana.pk)
    assert event.details == {
        "username": "dana",
        "roles": ["compliance", "supervisor"],
        "password": "set",
    }
    assert not events("user.invite")
    page = admin.get(response["Location"]).content.decode()
    assert STRONG not in page


def test_it_shows_each_role_with_what_it_may_do(admin):
    html = admin.get(url("user_add")).content.decode()
    assert 'type="checkbox" name="roles" value="auditor"' in html
    assert "Read, verify and export the access log" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"username": "Supervisor-User"}, "username", "exists already"),
        ({"username": "bad name!"}, "username", "Enter a valid username"),
        ({"username": ""}, "username", "This field is required"),
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"roles": ["supervisor", "root"]}, "roles", "not one of the available choices"),
        ({"password1": "short7", "password2": "short7"}, "password1", "too short"),
        ({"password1": "123456789012345", "password2": "123456789012345"}, "password1", "numeric"),
        ({"password1": "password12345", "password2": "password12345"}, "password1", "too common"),
        (
            {"password1": "dana@example.com", "password2": "dana@example.com"},
            "password1",
            "similar",
        ),
        ({"password2": STRONG + "!"}, "password2", "match"),
        ({"password1": "", "password2": ""}, "password1", "both fields"),
        ({"access": "magic"}, "access", "not one of the available choices"),
    ],
)
def test_it_creates_nothing_from_bad_input(admin, users, data, field, message):
    before = User.objects.count()
    response = admin.post(url("user_add"), new_user_data(**data))
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert User.objects.count() == before
    assert not events("user.create")
    html = response.content.decode()
    for name in ("password1", "password2"):  # passwords are never rendered back
        (tag,) = re.findall(rf'<input[^>]*name="{name}"[^>]*>', html)
        assert "value=" not in tag


# --- invitations -----------------------------------------------------------------------------


def invite(admin, **data):
    response = admin.post(url("user_add"), new_user_data(access="invite", **data))
    assert response.status_code == 200
    return response.context["link"], User.objects.get(username=data.get("username", "dana"))


def test_it_invites_with_a_one_time_link_shown_once(admin, users, client):
    link, dana = invite(admin, password1=STRONG, password2=STRONG)
    assert link.startswith("http://testserver/accounts/set-password/")
    assert not dana.has_usable_password()  # what was typed in the password fields is dropped
    assert roles(dana) == ["compliance", "supervisor"]
    token = link.rstrip("/").rsplit("/", 1)[1]
    changes = AccessEvent.objects.filter(action__startswith="user.")
    assert [event.action for event in changes] == ["user.create", "user.invite"]
    for event in AccessEvent.objects.all():
        assert token not in str(event.details) and "set-password" not in str(event.details)
    assert events("user.create")[0].details["password"] == "invitation"
    # Nowhere to see it again: the user's page does not carry it.
    assert token not in admin.get(url("user_edit", dana)).content.decode()

    opened = client.get(link)
    assert opened.status_code == 302  # the token moves to the session, out of the address bar
    assert token not in opened["Location"]
    page = client.get(opened["Location"])
    assert page.status_code == 200 and token not in page.content.decode()
    weak = client.post(opened["Location"], {"new_password1": "dana", "new_password2": "dana"})
    assert weak.status_code == 400
    assert not User.objects.get(pk=dana.pk).has_usable_password()
    done = client.post(opened["Location"], {"new_password1": STRONG, "new_password2": STRONG})
    assert done.status_code == 302 and done["Location"] == reverse("accounts:login")
    assert User.objects.get(pk=dana.pk).check_password(STRONG)
    (event,) = events("user.password_set")
    assert event.actor_id == dana.pk

    # Spent: neither the link nor the session it left behind sets a password again.
    assert client.get(link).status_code == 400
    again = client.post(
        opened["Location"], {"new_password1": "x" + STRONG, "new_password2": "x" + STRONG}
    )
    assert again.status_code == 400
    assert (
        Client()
        .post(link, {"new_password1": "y" + STRONG, "new_password2": "y" + STRONG})
        .status_code
        == 400
    )
    assert User.objects.get(pk=dana.pk).check_password(STRONG)
    sign_in = Client().post(reverse("accounts:login"), {"username": "dana", "password": STRONG})
    assert sign_in["Location"] == reverse("dashboard:home")


def test_the_link_expires(admin, users, client, settings, monkeypatch):
    link, _ = invite(admin)
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)
    monkeypatch.setattr(services.invite_tokens, "_now", lambda: later)
    response = client.get(link)
    assert response.status_code == 400
    assert b"expired" in response.content


def test_the_link_works_until_it_expires(admin, users, client, settings, monkeypatch):
    link, _ = invite(admin)
    almost = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT - 60)
    monkeypatch.setattr(services.invite_tokens, "_now", lambda: almost)
    assert client.get(link).status_code == 302


def test_a_link_is_valid_three_days(settings):
    assert settings.PASSWORD_RESET_TIMEOUT == 3 * 24 * 3600


def test_a_new_link_replaces_the_old_one_and_the_password(admin, subject, client):
    response = admin.post(url("user_link", subject))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    first = response.context["link"]
    subject.refresh_from_db()
    assert not subject.has_usable_password()  # the old password stops working
    second = admin.post(url("user_link", subject)).context["link"]
    assert client.get(first).status_code == 400
    assert client.get(second).status_code == 302
    assert [e.details["replaced_password"] for e in events("user.invite")] == [True, False]


def test_a_deactivated_users_link_does_not_work(admin, users, client):
    link, dana = invite(admin)
    admin.post(url("user_deactivate", dana))
    assert client.get(link).status_code == 400


def test_no_link_for_a_deactivated_user_or_oneself(admin, users, make_user):
    gone = make_user("gone", "supervisor", is_active=False)
    assert admin.post(url("user_link", gone)).status_code == 409
    assert admin.post(url("user_link", users["admin"])).status_code == 409
    assert users["admin"].check_password(PASSWORD)
    assert not events("user.invite")


def test_a_made_up_link_does_not_work(client, subject):
    bad = reverse("accounts:set_password", kwargs={"uidb64": "MTIzNDU2", "token": "abc-def"})
    assert client.get(bad).status_code == 400
    uid = services._uid(subject)
    placeholder = reverse("accounts:set_password", kwargs={"uidb64": uid, "token": "set-password"})
    assert (
        client.post(placeholder, {"new_password1": STRONG, "new_password2": STRONG}).status_code
        == 400
    )
    subject.refresh_from_db()
    assert subject.check_password(PASSWORD)


# --- edit ------------------------------------------------------------------------------------


def test_it_changes_roles_and_details_and_records_what_changed(admin, users, subject):
    data = edit_data(subject, first_name="Samantha", roles=["auditor", "supervisor"])
    response = admin.post(url("user_edit", subject), data)
    assert response.status_code == 302
    subject.refresh_from_db()
    assert subject.first_name == "Samantha"
    assert roles(subject) == ["auditor", "supervisor"]
    (event,) = events("user.update")
    assert event.actor == users["admin"]
    assert event.details == {
        "username": "sam",
        "changed": ["first_name", "roles"],
        "roles_before": ["supervisor"],
        "roles_after": ["auditor", "supervisor"],
    }


def test_an_unchanged_form_records_nothing(admin, subject):
    assert admin.post(url("user_edit", subject), edit_data(subject)).status_code == 302
    assert not events("user.update")


def test_it_keeps_groups_that_are_not_roles(admin, subject):
    other = Group.objects.create(name="night shift")
    subject.groups.add(other)
    admin.post(url("user_edit", subject), edit_data(subject, roles=["compliance"]))
    assert set(subject.groups.values_list("name", flat=True)) == {"night shift", "compliance"}


def test_it_refuses_a_bad_email_and_changes_nothing(admin, subject):
    response = admin.post(url("user_edit", subject), edit_data(subject, email="nope", roles=[]))
    assert response.status_code == 400
    subject.refresh_from_db()
    assert subject.email == "sam@x.org" and roles(subject) == ["supervisor"]


# --- the last admin --------------------------------------------------------------------------


def test_the_only_admin_cannot_remove_their_admin_role(admin, users):
    me = users["admin"]
    response = admin.post(url("user_edit", me), edit_data(me, roles=["supervisor"]))
    assert response.status_code == 409
    assert "only active admin" in response.content.decode()
    assert roles(me) == ["admin"]
    assert not events("user.update")


def test_an_admin_can_leave_the_role_while_another_admin_remains(admin, users, make_user):
    make_user("second-admin", "admin")
    me = users["admin"]
    response = admin.post(url("user_edit", me), edit_data(me, roles=["supervisor"]))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert roles(me) == ["supervisor"]


def test_the_last_active_admin_cannot_be_deactivated(users, make_user, client):
    # Only someone outside the admin role can try: a superuser, or the command line.
    root = User.objects.create_superuser("root", password=PASSWORD)
    client.force_login(root)
    make_user("retired-admin", "admin", is_active=False)
    response = client.post(url("user_deactivate", users["admin"]))
    assert response.status_code == 409
    assert "only active admin" in response.content.decode()
    assert User.objects.get(pk=users["admin"].pk).is_active
    with pytest.raises(services.Refused):
        services.user_deactivate(users["admin"])
    assert not events("user.deactivate")


def test_an_admin_cannot_deactivate_themselves(admin, users, make_user):
    make_user("second-admin", "admin")
    response = admin.post(url("user_deactivate", users["admin"]))
    assert response.status_code == 409
    assert "your own account" in response.content.decode()
    assert User.objects.get(pk=users["admin"].pk).is_active


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_cannot_remove_both_admins(make_user, monkeypatch):
    """Each request alone leaves one admin; together, without the lock, they would leave none.

    Each request waits (up to a second) after its check for the other to pass its own check
    too. With the lock the second cannot: it waits for the first to commit, then sees one
    admin left and is refused.
    """
    ann, bob = make_user("ann", "admin"), make_user("bob", "admin")
    checked = threading.Barrier(2)
    real = services.lock_active_admins

    def lock_then_wait():
        admins = real()
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(timeout=1)
        return admins

    monkeypatch.setattr(services, "lock_active_admins", lock_then_wait)
    requests = {
        "ann deactivates bob": (ann, url("user_deactivate", bob), {}),
        "bob takes ann's role": (bob, url("user_edit", ann), edit_data(ann, roles=["auditor"])),
    }
    statuses, errors = {}, []

    def send(name, actor, path, data):
        try:
            client = Client()
            client.force_login(actor)
            statuses[name] = client.post(path, data).status_code
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(n, *r)) for n, r in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(statuses.values()) == [302, 409]
    active_admins = User.objects.filter(groups__name="admin", is_active=True)
    assert active_admins.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_locked_admin_can_still_write_to_the_access_log(make_user, monkeypatch):
    """While a deactivation holds the admins' rows, one of them does something audited.

    Their event's insert checks its actor's row (a key share lock) while holding the access
    log's lock; the deactivation then wants the log's lock to record itself. Row locks that
    blocked key share locks would deadlock here.
    """
    ann, bob = make_user("ann", "admin"), make_user("bob", "admin")
    locked, recorded = threading.Event(), threading.Event()
    real = services.lock_active_admins

    def lock_then_wait():
        admins = real()
        locked.set()
        recorded.wait(timeout=3)
        return admins

    monkeypatch.setattr(services, "lock_active_admins", lock_then_wait)
    errors = []

    def deactivate():
        try:
            services.user_deactivate(bob, actor=ann)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    def audited_request():
        try:
            locked.wait(timeout=3)
            record("recording.search", actor=bob, details={"q": "while locked"})
            recorded.set()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deactivate), threading.Thread(target=audited_request)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not User.objects.get(pk=bob.pk).is_active
    actions = list(AccessEvent.objects.values_list("action", flat=True))
    assert actions == ["recording.search", "user.deactivate"]
    assert verify().intact


# --- deactivation ----------------------------------------------------------------------------


def signed_in(username):
    client = Client()
    assert client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})[
        "Location"
    ] == reverse("dashboard:home")
    assert client.get(reverse("dashboard:home")).status_code == 200
    return client


def test_a_deactivated_user_is_signed_out_on_their_next_request(admin, users, subject):
    theirs = signed_in("sam")
    response = admin.post(url("user_deactivate", subject))
    assert response.status_code == 302
    assert "1 open session ended" in admin.get(response["Location"]).content.decode()
    home = theirs.get(reverse("dashboard:home"))
    assert home.status_code == 302 and home["Location"].startswith(reverse("accounts:login"))
    (event,) = events("user.deactivate")
    assert event.details == {"username": "sam", "sessions_ended": 1}
    assert event.actor == users["admin"]

    # Reactivated, they sign in again: the old session is gone, not revived.
    assert admin.post(url("user_reactivate", subject)).status_code == 302
    assert events("user.reactivate")[0].details == {"username": "sam"}
    assert theirs.get(reverse("dashboard:home")).status_code == 302
    assert signed_in("sam")
    assert User.objects.get(pk=subject.pk).is_active


def test_the_active_check_alone_signs_them_out(users, subject):
    """However a user is deactivated, their sessions stop working: ModelBackend checks."""
    theirs = signed_in("sam")
    User.objects.filter(pk=subject.pk).update(is_active=False)
    assert Session.objects.count() >= 1
    home = theirs.get(reverse("dashboard:home"))
    assert home.status_code == 302 and home["Location"].startswith(reverse("accounts:login"))


def test_it_ends_only_that_users_sessions(admin, users, subject):
    signed_in("sam")
    other = signed_in("auditor-user")
    admin.post(url("user_deactivate", subject))
    assert other.get(reverse("dashboard:home")).status_code == 200


def test_deactivating_twice_records_once(admin, subject):
    admin.post(url("user_deactivate", subject))
    admin.post(url("user_deactivate", subject))
    admin.post(url("user_reactivate", subject))
    admin.post(url("user_reactivate", subject))
    assert len(events("user.deactivate")) == len(events("user.reactivate")) == 1
    assert verify().intact


def test_the_edit_page_offers_what_fits_the_user(admin, users, subject, make_user):
    html = admin.get(url("user_edit", subject)).content.decode()
    assert url("user_deactivate", subject) in html and url("user_link", subject) in html
    own = admin.get(url("user_edit", users["admin"])).content.decode()
    assert url("user_deactivate", users["admin"]) not in own
    gone = make_user("gone", is_active=False)
    html = admin.get(url("user_edit", gone)).content.decode()
    assert url("user_reactivate", gone) in html and url("user_deactivate", gone) not in html


# --- the command -----------------------------------------------------------------------------


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_generates_a_password_and_prints_it_once(db):
    out, _ = run(
        "ops", "--role", "admin", "--role", "auditor", "--email", "ops@x.org", "--generate-password"
    )
    (line,) = [line for line in out.splitlines() if line.startswith("Password: ")]
    password = line.removeprefix("Password: ")
    assert out.count(password) == 1
    ops = User.objects.get(username="ops")
    assert ops.check_password(password) and ops.email == "ops@x.org"
    assert roles(ops) == ["admin", "auditor"]
    (event,) = events("user.create")
    assert event.actor is None
    assert event.details == {
        "username": "ops",
        "roles": ["admin", "auditor"],
        "password": "set",
        "via": "create_user",
    }
    assert password not in str(event.details)


def test_the_command_asks_until_the_password_is_acceptable(db, monkeypatch):
    typed = iter(["short", "short", STRONG, STRONG])
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or next(typed))
    out, err = run("ops", "--role", "supervisor")
    assert "too short" in err
    assert prompts == ["Password: ", "Password (again): "] * 2
    assert User.objects.get(username="ops").check_password(STRONG)
    assert STRONG not in out + err


def test_the_command_gives_up_and_creates_nothing(db, monkeypatch):
    typed = iter([STRONG, STRONG + "?"] * 3)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    with pytest.raises(CommandError, match="nothing was created"):
        run("ops", "--role", "supervisor")
    assert not User.objects.filter(username="ops").exists()
    assert not events("user.create")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Supervisor-User", "--generate-password"], "exists already"),
        (["ops", "--role", "root", "--generate-password"], "invalid choice"),
        (["ops", "--email", "nope", "--generate-password"], "not an email address"),
    ],
)
def test_the_command_refuses_bad_input(users, args, message):
    before = User.objects.count()
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert User.objects.count() == before
