"""Retention: per account, keep forever or N days after the call; a nightly run deletes through
the deletion service, skipping held recordings, and says what it did."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.compliance.models import DeletionRecord, RetentionPolicy, VendorState
from recordings_portal.compliance.services import Refused
from recordings_portal.compliance.services.retention import (
    retention_apply,
    retention_policy_set,
    retention_preview,
)
from recordings_portal.compliance.tasks import apply_retention

from .conftest import events


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def test_it_sets_a_policy_and_records_the_change(people, flyflow):
    account = flyflow().account
    retention_policy_set(account=account, keep_days=90, user=people.alice)
    retention_policy_set(account=account, keep_days=90, user=people.admin)  # no change
    retention_policy_set(account=account, keep_days=None, user=people.admin)

    policy = RetentionPolicy.objects.get(account=account)
    assert policy.keep_days is None and policy.updated_by == people.admin
    changes = events("retention.policy_change")
    assert [(e.actor, e.details["keep_days_before"], e.details["keep_days"]) for e in changes] == [
        (people.alice, None, 90),
        (people.admin, 90, None),
    ]


def test_only_compliance_and_admins_set_policies(people, flyflow):
    with pytest.raises(Refused, match="may not"):
        retention_policy_set(account=flyflow().account, keep_days=5, user=people.supervisor)
    with pytest.raises(Refused, match="at least one day"):
        retention_policy_set(account=flyflow().account, keep_days=0, user=people.alice)


def test_it_deletes_what_is_older_than_the_policy_through_the_deletion_service(
    people, flyflow, audian
):
    old, recent = flyflow(started_at=days_ago(31)), flyflow(started_at=days_ago(29))
    unknown_start = flyflow(started_at=None)
    Recording.objects.filter(id=unknown_start.id).update(downloaded_at=days_ago(40))
    kept_forever = audian(started_at=days_ago(3000))
    RetentionPolicy.objects.create(account=old.account, keep_days=30)
    RetentionPolicy.objects.create(account=kept_forever.account, keep_days=None)

    summary = apply_retention()

    assert summary["deleted"] == 2
    states = dict(Recording.objects.values_list("id", "state"))
    assert states[old.id] == states[unknown_start.id] == RecordingState.DELETED
    assert states[recent.id] == states[kept_forever.id] == RecordingState.AVAILABLE
    deletion = DeletionRecord.objects.get(recording=old)
    assert (deletion.reason, deletion.source, deletion.deleted_by) == (
        "retention policy: 30 days",
        "retention",
        None,
    )
    assert deletion.vendor_state == VendorState.NO_API  # Flyflow: said, not silently skipped
    (run,) = events("retention.run")
    assert run.actor is None and run.details["deleted"] == 2
    assert run.details["accounts"] == [
        {
            "account": "Stored",
            "keep_days": 30,
            "deleted": 2,
            "refused": 0,
            "held_skipped": 0,
            "left_for_next_run": 0,
        }
    ]
    policy = RetentionPolicy.objects.get(account=old.account)
    assert policy.last_run_deleted == 2 and policy.last_run_at is not None
    assert len(events("recording.delete")) == 2


def test_a_run_with_nothing_to_do_is_still_recorded(db):
    assert retention_apply() == {"deleted": 0, "accounts": []}
    assert len(events("retention.run")) == 1


def test_it_deletes_at_most_the_nightly_budget_oldest_first(people, flyflow, settings):
    settings.RETENTION_MAX_PER_RUN = 2
    rows = [flyflow(started_at=days_ago(100 + n)) for n in range(3)]
    RetentionPolicy.objects.create(account=rows[0].account, keep_days=10)
    summary = retention_apply()
    assert summary["deleted"] == 2 and summary["accounts"][0]["left_for_next_run"] == 1
    assert Recording.objects.get(id=rows[0].id).state == RecordingState.AVAILABLE  # youngest


def test_the_preview_shows_what_the_next_run_deletes(people, flyflow):
    old = [flyflow(started_at=days_ago(50 + n)) for n in range(3)]
    held = flyflow(started_at=days_ago(60), legal_hold=True)
    flyflow(started_at=days_ago(1))
    RetentionPolicy.objects.create(account=held.account, keep_days=7)

    (preview,) = retention_preview(first=2)

    assert (preview.count, preview.held) == (3, 1)
    assert preview.first == [old[2], old[1]]  # oldest first
    assert Recording.objects.filter(state=RecordingState.DELETED).count() == 0
