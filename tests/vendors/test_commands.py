import io

import pytest
from django.core.management import CommandError, call_command

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.management.commands.sync_vendor import progress_line
from recordings_portal.catalog.models import Recording, RecordingState, SyncRun, SyncState
from recordings_portal.simulators.flyflow import API_KEY as FLYFLOW_KEY
from recordings_portal.vendors.models import VendorAccount


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def flyflow_url(db, simulators, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True
    return simulators.url + "/flyflow/v1"


# --- add_vendor_account ------------------------------------------------------------------


def test_it_adds_an_account_asking_for_the_secret_without_echo(flyflow_url, monkeypatch):
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or FLYFLOW_KEY)
    out, err = run(
        "add_vendor_account",
        "flyflow",
        "Flyflow CLI",
        "--base-url",
        flyflow_url,
        "--secret",
        "api_key=-",
        "--interval",
        "15",
    )
    account = VendorAccount.objects.get(name="Flyflow CLI")
    assert account.get_secrets() == {"api_key": FLYFLOW_KEY}
    assert account.sync_interval_minutes == 15
    assert prompts == ["API key (api_key): "]
    assert FLYFLOW_KEY not in out + err
    assert "api_key" in out
    (event,) = AccessEvent.objects.filter(action="vendor_account.create")
    assert event.actor is None
    assert event.actor_username == ""
    assert event.details["secret_fields"] == ["api_key"]
    assert FLYFLOW_KEY not in str(event.details)


def test_it_reads_secrets_from_the_environment(flyflow_url, monkeypatch):
    monkeypatch.setenv("VENDOR_SECRET_API_KEY", FLYFLOW_KEY)
    run("add_vendor_account", "flyflow", "From env", "--base-url", flyflow_url)
    assert VendorAccount.objects.get().get_secrets() == {"api_key": FLYFLOW_KEY}


def test_it_takes_config_values(db):
    run(
        "add_vendor_account",
        "kaleyra",
        "Kaleyra EU",
        "--base-url",
        "https://api.kaleyra.io",
        "--config",
        "sid=HXAB12071US",
        "--secret",
        "api_key=A1b2C3d4E5f6G7h8",
    )
    assert VendorAccount.objects.get().config == {"sid": "HXAB12071US"}


def test_it_adds_nothing_and_names_what_is_wrong(db, settings):
    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(CommandError) as caught:
        run(
            "add_vendor_account",
            "kaleyra",
            "Bad",
            "--base-url",
            "http://10.0.0.8/",
            "--config",
            "colour=blue",
        )
    message = str(caught.value)
    assert "base_url: 10.0.0.8 is a private or loopback address" in message
    assert "colour" in message
    assert "sid: Account SID is required." in message
    assert "api_key: API key is required." in message
    assert not VendorAccount.objects.exists()
    assert not AccessEvent.objects.exists()


def test_it_refuses_a_malformed_pair(db):
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("add_vendor_account", "flyflow", "X", "--base-url", "https://a.b", "--secret", "k")


# --- sync_vendor -------------------------------------------------------------------------


@pytest.fixture
def flyflow(vendor_account):
    return vendor_account("flyflow")


def test_it_queues_a_sync_for_the_workers(flyflow):
    out, _ = run("sync_vendor", flyflow.name)
    sync = SyncRun.objects.get()
    assert sync.state == SyncState.QUEUED
    assert sync.trigger == "command"
    assert f"Queued sync {sync.pk}" in out
    (event,) = AccessEvent.objects.filter(action="vendor_account.sync")
    assert event.actor is None
    assert event.details == {"run": sync.pk, "trigger": "command"}


def test_it_refuses_a_second_sync_of_the_same_account(flyflow):
    run("sync_vendor", flyflow.name)
    with pytest.raises(CommandError, match="Not synced: Test flyflow"):
        run("sync_vendor", flyflow.name)
    assert SyncRun.objects.count() == 1


def test_with_wait_it_syncs_and_downloads_here_printing_progress(flyflow):
    out, _ = run("sync_vendor", flyflow.name, "--wait")
    sync = SyncRun.objects.get()
    assert sync.state == SyncState.SUCCEEDED
    assert "page 1 · 8 seen · 8 new · 0 updated" in out
    assert "8 downloaded, 0 failed" in out
    assert Recording.objects.filter(state=RecordingState.AVAILABLE).count() == 8
    flyflow.refresh_from_db()
    assert flyflow.last_synced_at is not None


def test_with_wait_it_exits_non_zero_with_the_error_when_the_sync_fails(vendor_account):
    account = vendor_account("flyflow", secrets={"api_key": "ff_live_wrong_key_0000"})
    err = io.StringIO()
    with pytest.raises(CommandError, match="Not synced: Test flyflow"):
        call_command("sync_vendor", account.name, "--wait", stdout=io.StringIO(), stderr=err)
    assert "Sync of Test flyflow failed: Flyflow answered 401" in err.getvalue()
    assert "credentials were refused" in err.getvalue()
    assert SyncRun.objects.get().state == SyncState.FAILED


def test_all_syncs_every_enabled_account_that_can_be_listed(vendor_account):
    first = vendor_account("flyflow", name="One")
    vendor_account("flyflow", name="Two", enabled=False)
    kaleyra = vendor_account("kaleyra", name="Kaleyra")  # imports only: nothing to list
    out, _ = run("sync_vendor", "--all")
    assert list(SyncRun.objects.values_list("account__name", flat=True)) == [first.name]
    assert f"Skipping {kaleyra.name}" in out


def test_it_names_the_accounts_when_the_name_is_unknown(flyflow):
    with pytest.raises(CommandError, match="accounts: Test flyflow"):
        run("sync_vendor", "Nope")


def test_the_progress_line_draws_a_bar_once_the_total_is_known():
    sync = SyncRun(pages=2, seen=50, new=10, updated=1)
    assert progress_line(sync) == "page 2 · 50 seen · 10 new · 1 updated"
    sync.total_expected = 200
    assert progress_line(sync).startswith("[#######.......................]  25% page 2")


@pytest.mark.django_db(transaction=True)
def test_it_fails_clearly_when_the_task_queue_is_down(flyflow, monkeypatch):
    from kombu.exceptions import OperationalError

    from recordings_portal.catalog import tasks

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.sync_account, "delay", refuse)
    err = io.StringIO()
    with pytest.raises(CommandError, match="Not synced: Test flyflow"):
        call_command("sync_vendor", flyflow.name, stdout=io.StringIO(), stderr=err)
    assert "The task queue cannot be reached" in err.getvalue()
    assert SyncRun.objects.get().state == SyncState.CANCELLED
