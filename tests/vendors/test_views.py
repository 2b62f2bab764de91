from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.models import Recording, SyncRun, SyncState
from recordings_portal.simulators.flyflow import API_KEY as FLYFLOW_KEY
from recordings_portal.vendors.models import Health, VendorAccount
from recordings_portal.vendors.services import account_create

HTMX = {"HTTP_HX_REQUEST": "true"}
NEW_KEY = "ff_live_rotated_9c2e77d1b0aa"


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def flyflow(vendor_account):
    return vendor_account("flyflow")


def events(action):
    return list(AccessEvent.objects.filter(action=action))


def assert_secret_absent(response, *secrets):
    body = response.content.decode()
    for secret in secrets:
        assert secret not in body


def form_data(simulators, **overrides):
    data = {
        "kind": "flyflow",
        "name": "Flyflow main",
        "base_url": simulators.url + "/flyflow/v1",
        "secret_api_key": FLYFLOW_KEY,
        "sync_interval_minutes": "30",
        "enabled": "on",
    }
    return {**data, **overrides}


# --- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "compliance", "auditor"])
def test_it_refuses_every_vendor_page_and_action_to_non_admins(client_for, flyflow, role):
    client = client_for(role)
    pk = flyflow.pk
    for name in ("vendors:list", "vendors:add"):
        assert client.get(reverse(name)).status_code == 403
    for name in ("vendors:detail", "vendors:edit", "vendors:progress"):
        assert client.get(reverse(name, args=[pk])).status_code == 403
    for name in ("vendors:test", "vendors:sync", "vendors:edit"):
        assert client.post(reverse(name, args=[pk])).status_code == 403
    assert client.post(reverse("vendors:add"), {"kind": "flyflow"}).status_code == 403
    assert not SyncRun.objects.exists()
    assert not AccessEvent.objects.filter(action__startswith="vendor_account.").exists()


def test_it_answers_404_for_an_unknown_account(admin, db):
    assert admin.get(reverse("vendors:detail", args=[999])).status_code == 404
    assert admin.post(reverse("vendors:test", args=[999])).status_code == 404


def test_it_changes_nothing_on_a_get_to_an_action(admin, flyflow):
    assert admin.get(reverse("vendors:sync", args=[flyflow.pk])).status_code == 405
    assert admin.get(reverse("vendors:test", args=[flyflow.pk])).status_code == 405
    assert not SyncRun.objects.exists()


def test_it_links_the_accounts_page_in_the_nav_for_admins_only(client_for):
    assert b"Vendor accounts" in client_for("admin").get(reverse("dashboard:home")).content
    assert b"Vendor accounts" not in client_for("supervisor").get(reverse("dashboard:home")).content


# --- list --------------------------------------------------------------------------------


def test_it_tells_the_admin_to_add_an_account_when_there_is_none(admin):
    response = admin.get(reverse("vendors:list"))
    assert b"No vendor accounts yet" in response.content
    assert reverse("vendors:add").encode() in response.content


def add_recordings(account, **per_state):
    rows = [
        Recording(account=account, external_id=f"{state}-{i}", state=state)
        for state, count in per_state.items()
        for i in range(count)
    ]
    Recording.objects.bulk_create(rows)


def test_it_lists_counts_by_state_with_one_query_whatever_the_number_of_accounts(
    admin, flyflow, vendor_account
):
    add_recordings(flyflow, available=3, failed=1)
    with CaptureQueriesContext(connection) as one_account:
        response = admin.get(reverse("vendors:list"))
    body = response.content.decode()
    assert "3 available" in body
    assert "1 failed" in body
    second = vendor_account("audian", name="Audian")
    add_recordings(second, discovered=2)
    with CaptureQueriesContext(connection) as two_accounts:
        response = admin.get(reverse("vendors:list"))
    assert "2 discovered" in response.content.decode()
    assert len(two_accounts) == len(one_account)


def test_it_shows_health_last_error_and_the_active_sync_on_the_list(admin, flyflow):
    VendorAccount.objects.filter(pk=flyflow.pk).update(
        health=Health.AUTH_FAILED, last_error="Flyflow answered 401: the credentials were refused."
    )
    SyncRun.objects.create(
        account=flyflow, state=SyncState.RUNNING, pages=2, seen=40, total_expected=80
    )
    body = admin.get(reverse("vendors:list")).content.decode()
    assert "Credentials refused" in body
    assert "the credentials were refused" in body
    assert 'value="50"' in body
    assert 'hx-trigger="every 2s"' in body  # the list refreshes while a sync runs


# --- add ---------------------------------------------------------------------------------


def test_it_creates_an_account_and_never_shows_its_secret(admin, simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    response = admin.post(reverse("vendors:add"), form_data(simulators), follow=True)
    account = VendorAccount.objects.get()
    assert response.redirect_chain[-1][0] == reverse("vendors:detail", args=[account.pk])
    assert account.get_secrets() == {"api_key": FLYFLOW_KEY}
    assert account.sync_interval_minutes == 30
    assert_secret_absent(response, FLYFLOW_KEY)
    assert "••••3aex" in response.content.decode()
    (event,) = events("vendor_account.create")
    assert event.actor_username == "admin-user"
    assert event.object_id == str(account.pk)
    assert event.details["secret_fields"] == ["api_key"]
    assert FLYFLOW_KEY not in str(event.details)


def test_it_saves_nothing_on_bad_input_and_says_what_to_fix(admin, simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    response = admin.post(reverse("vendors:add"), form_data(simulators))
    assert response.status_code == 400
    body = response.content.decode()
    assert "private or loopback address" in body
    assert "Nothing was saved" in body
    assert_secret_absent(response, FLYFLOW_KEY)
    assert not VendorAccount.objects.exists()
    assert not events("vendor_account.create")


def test_it_names_each_missing_setting_of_the_kind(admin, db):
    data = {
        "kind": "koreai",
        "name": "Kore",
        "base_url": "https://bots.kore.ai",
        "config_bot_id": "st-1",
        "secret_client_secret": "kore-secret-abcdef123456",
        "sync_interval_minutes": "60",
    }
    response = admin.post(reverse("vendors:add"), data)
    body = response.content.decode()
    assert "Account ID is required." in body
    assert "Client ID is required." in body
    assert 'value="st-1"' in body  # what was typed is kept, except the secret
    assert_secret_absent(response, "kore-secret-abcdef123456")
    assert not VendorAccount.objects.exists()


def test_it_refuses_a_second_account_with_the_same_name(admin, flyflow, simulators):
    response = admin.post(reverse("vendors:add"), form_data(simulators, name=flyflow.name))
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert VendorAccount.objects.count() == 1


def test_it_reloads_the_form_for_the_chosen_kind(admin):
    url = reverse("vendors:add") + "?kind=koreai"
    partial = admin.get(url, **HTMX).content.decode()
    assert "<html" not in partial
    assert 'id="account-form"' in partial
    assert "Bot or stream ID" in partial
    assert 'type="password"' in partial
    full = admin.get(url).content.decode()  # the no-JS path: the same form in the whole page
    assert "<html" in full
    assert "Bot or stream ID" in full


def test_it_asks_for_the_kind_first(admin):
    body = admin.get(reverse("vendors:add")).content.decode()
    assert "Choose a vendor" in body
    assert 'name="secret_' not in body
    assert admin.post(reverse("vendors:add"), {"name": "x"}).status_code == 400


# --- edit --------------------------------------------------------------------------------


def test_the_edit_form_shows_the_masked_secret_never_the_value(admin, flyflow):
    response = admin.get(reverse("vendors:edit", args=[flyflow.pk]))
    body = response.content.decode()
    assert "••••3aex" in body
    assert "Leave blank to keep it" in body
    assert_secret_absent(response, FLYFLOW_KEY)


def edit(admin, account, **changes):
    data = {
        "name": account.name,
        "base_url": account.base_url,
        "sync_interval_minutes": str(account.sync_interval_minutes),
        "enabled": "on",
        "secret_api_key": "",
        **changes,
    }
    return admin.post(reverse("vendors:edit", args=[account.pk]), data, follow=True)


def test_a_blank_secret_keeps_the_stored_one(admin, flyflow):
    edit(admin, flyflow, sync_interval_minutes="15")
    flyflow.refresh_from_db()
    assert flyflow.sync_interval_minutes == 15
    assert flyflow.get_secrets() == {"api_key": FLYFLOW_KEY}
    (event,) = events("vendor_account.update")
    assert event.details == {"changed": ["sync_interval_minutes"]}
    assert not events("vendor_account.secret_change")


def test_a_new_secret_is_logged_by_name_only(admin, flyflow):
    response = edit(admin, flyflow, secret_api_key=NEW_KEY)
    flyflow.refresh_from_db()
    assert flyflow.get_secrets() == {"api_key": NEW_KEY}
    assert_secret_absent(response, NEW_KEY, FLYFLOW_KEY)
    assert "••••b0aa" in response.content.decode()
    (event,) = events("vendor_account.secret_change")
    assert event.actor_username == "admin-user"
    assert event.details == {"fields": ["api_key"]}
    assert not events("vendor_account.update")


def test_a_refused_edit_changes_nothing(admin, flyflow, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False  # the simulator's loopback address is refused
    response = edit(admin, flyflow, name="Renamed", secret_api_key=NEW_KEY)
    assert response.status_code == 400
    assert "private or loopback address" in response.content.decode()
    assert_secret_absent(response, NEW_KEY, FLYFLOW_KEY)
    flyflow.refresh_from_db()
    assert flyflow.name == "Test flyflow"
    assert flyflow.get_secrets() == {"api_key": FLYFLOW_KEY}
    assert not AccessEvent.objects.filter(action__startswith="vendor_account.").exists()


def test_the_kind_is_fixed_after_creation(admin, flyflow):
    edit(admin, flyflow, kind="audian")
    flyflow.refresh_from_db()
    assert flyflow.kind == "flyflow"


# --- detail, connection test -------------------------------------------------------------


def test_the_detail_page_shows_settings_with_masked_secrets(admin, flyflow):
    response = admin.get(reverse("vendors:detail", args=[flyflow.pk]))
    body = response.content.decode()
    assert "••••3aex" in body
    assert flyflow.base_url in body
    assert "Never synced" in body
    assert_secret_absent(response, FLYFLOW_KEY)
    assert "Webhooks" not in body  # Flyflow does not push events


def test_it_gives_the_webhook_url_for_kinds_that_push(admin, db, settings):
    account = account_create(
        name="Audian",
        kind="audian",
        base_url="https://api.audian.com",
        secrets={"api_key": "audian-key-0123456789"},
    )
    body = admin.get(reverse("vendors:detail", args=[account.pk])).content.decode()
    assert f"http://testserver/hooks/{account.public_id}/events" in body
    assert "placeholder" in body


def test_it_tests_the_connection_against_flyflow(admin, flyflow):
    response = admin.post(reverse("vendors:test", args=[flyflow.pk]), **HTMX)
    body = response.content.decode()
    assert "<html" not in body
    assert "Connection works" in body
    assert 'hx-swap-oob="true"' in body  # the health badge refreshes beside the result
    flyflow.refresh_from_db()
    assert flyflow.health == Health.OK
    (event,) = events("vendor_account.test")
    assert event.outcome == "success"


def test_a_refused_key_is_reported_in_words_the_admin_can_act_on(admin, vendor_account):
    account = vendor_account("flyflow", secrets={"api_key": "ff_live_wrong_key_0000"})
    response = admin.post(reverse("vendors:test", args=[account.pk]), **HTMX)
    body = response.content.decode()
    assert "Connection failed" in body
    assert "credentials were refused" in body
    assert "Update the credentials, then test again." in body
    account.refresh_from_db()
    assert account.health == Health.AUTH_FAILED
    (event,) = events("vendor_account.test")
    assert event.outcome == "failure"


def test_the_connection_test_works_without_javascript(admin, flyflow):
    response = admin.post(reverse("vendors:test", args=[flyflow.pk]), follow=True)
    assert "Connection works" not in response.content.decode()  # said as a message instead
    assert "accepted the API key" in response.content.decode()


# --- sync --------------------------------------------------------------------------------


def test_sync_now_queues_one_sync_and_refuses_a_second(admin, flyflow):
    url = reverse("vendors:sync", args=[flyflow.pk])
    first = admin.post(url, **HTMX).content.decode()
    run = SyncRun.objects.get()
    assert run.state == SyncState.QUEUED
    assert run.requested_by.username == "admin-user"
    assert "Sync queued" in first
    assert 'hx-trigger="every 2s"' in first
    (event,) = events("vendor_account.sync")
    assert event.details == {"run": run.pk, "trigger": "manual"}

    started = timezone.now() - timedelta(minutes=3)
    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.RUNNING, started_at=started)
    second = admin.post(url, **HTMX).content.decode()
    stamp = timezone.localtime(started).strftime("%Y-%m-%d %H:%M:%S")
    assert f"A sync is already running, started at {stamp}." in second
    assert SyncRun.objects.count() == 1
    assert len(events("vendor_account.sync")) == 1


def test_sync_now_without_javascript_says_so_on_the_detail_page(admin, flyflow):
    url = reverse("vendors:sync", args=[flyflow.pk])
    admin.post(url)
    response = admin.post(url, follow=True)
    assert "A sync is already queued" in response.content.decode()


def test_sync_now_is_refused_for_a_disabled_account(admin, vendor_account):
    account = vendor_account("flyflow", enabled=False)
    response = admin.post(reverse("vendors:sync", args=[account.pk]), **HTMX)
    assert "disabled" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_the_progress_partial_polls_while_the_sync_runs(admin, flyflow):
    run = SyncRun.objects.create(
        account=flyflow,
        state=SyncState.RUNNING,
        pages=3,
        seen=300,
        new=250,
        total_expected=400,
        started_at=timezone.now(),
    )
    url = reverse("vendors:progress", args=[flyflow.pk])
    body = admin.get(url, **HTMX).content.decode()
    assert "<html" not in body
    assert '<progress max="100" value="75"' in body
    assert "page 3" in body
    assert "250 new" in body
    assert 'hx-trigger="every 2s"' in body

    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.SUCCEEDED, finished_at=timezone.now())
    body = admin.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in body  # polling stops
    assert "Last sync <strong>succeeded</strong>" in body
    assert 'id="sync-history" hx-swap-oob="true"' in body

    page = admin.get(url).content.decode()  # the refresh link without JavaScript: the whole page
    assert "<html" in page
    assert page.count('id="sync-history"') == 1
    assert "hx-swap-oob" not in page


def test_the_history_shows_the_last_runs_with_their_first_error(admin, flyflow):
    start = timezone.now() - timedelta(minutes=5)
    for i in range(25):
        SyncRun.objects.create(account=flyflow, state=SyncState.SUCCEEDED, seen=i)
    SyncRun.objects.create(
        account=flyflow,
        state=SyncState.FAILED,
        started_at=start,
        finished_at=start + timedelta(seconds=75),
        errors=[{"at": "", "message": "Flyflow answered 503"}, {"at": "", "message": "later"}],
    )
    body = admin.get(reverse("vendors:detail", args=[flyflow.pk])).content.decode()
    history = body[body.index('id="sync-history"') :]
    assert history.count("<tr>") == 1 + 20
    assert "Flyflow answered 503" in history
    assert "1 min 15 s" in history


@pytest.fixture
def broker_down(monkeypatch):
    from kombu.exceptions import OperationalError

    from recordings_portal.catalog import tasks

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.sync_account, "delay", refuse)


@pytest.mark.django_db(transaction=True)
def test_sync_now_says_so_when_the_task_queue_is_down_and_leaves_no_run_blocking(
    admin, flyflow, broker_down
):
    response = admin.post(reverse("vendors:sync", args=[flyflow.pk]), **HTMX)
    assert "The task queue cannot be reached" in response.content.decode()
    assert SyncRun.objects.get().state == SyncState.CANCELLED  # the next try is not refused


def test_a_lost_encryption_key_gives_a_clear_message_not_a_crash(admin, flyflow, settings):
    from cryptography.fernet import Fernet

    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    detail = admin.get(reverse("vendors:detail", args=[flyflow.pk]))
    assert detail.status_code == 200
    tested = admin.post(reverse("vendors:test", args=[flyflow.pk]), **HTMX)
    assert tested.status_code == 200
    assert "cannot be decrypted" in tested.content.decode()
    # Entering the credentials again repairs the account.
    response = admin.post(
        reverse("vendors:edit", args=[flyflow.pk]),
        {
            "name": flyflow.name,
            "base_url": flyflow.base_url,
            "secret_api_key": NEW_KEY,
            "sync_interval_minutes": "60",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    flyflow.refresh_from_db()
    assert flyflow.get_secrets() == {"api_key": NEW_KEY}
