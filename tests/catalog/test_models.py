import pytest
from django.db import IntegrityError, transaction

from recordings_portal.catalog.models import Recording, SyncRun, SyncState
from recordings_portal.vendors.models import VendorAccount


@pytest.fixture
def account(db):
    return VendorAccount.objects.create(kind="flyflow", name="Flyflow", base_url="https://x.test")


def test_an_external_id_is_unique_per_account(account):
    Recording.objects.create(account=account, external_id="1001")
    with pytest.raises(IntegrityError), transaction.atomic():
        Recording.objects.create(account=account, external_id="1001")
    other = VendorAccount.objects.create(kind="flyflow", name="Other", base_url="https://y.test")
    assert Recording.objects.create(account=other, external_id="1001").pk


def test_only_one_sync_runs_per_account_at_a_time(account):
    SyncRun.objects.create(account=account, state=SyncState.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(account=account, state=SyncState.QUEUED)
    SyncRun.objects.create(account=account, state=SyncState.SUCCEEDED)
    assert SyncRun.objects.count() == 2


def test_progress_reads_seen_against_expected(account):
    run = SyncRun(account=account, seen=25, total_expected=200)
    assert run.progress_percent == 12
    assert SyncRun(account=account).progress_percent is None
