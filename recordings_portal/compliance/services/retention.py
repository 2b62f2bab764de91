"""Retention: each vendor account keeps its recordings forever, or N days after the call.

A daily run deletes what is older through the same deletion service as people do (reason
"retention policy: N days"), skipping recordings under legal hold, at most
RETENTION_MAX_PER_RUN a night. The preview runs the same queries without deleting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from recordings_portal.audit.log import record
from recordings_portal.catalog.models import Recording, RecordingState

from ..models import DeletionSource, RetentionPolicy
from . import Refused
from .deletion import recording_delete

PERMISSION = "compliance.manage_retention"


def retention_policy_set(*, account, keep_days: int | None, user, request=None) -> RetentionPolicy:
    """Keep `account`'s recordings forever (None) or `keep_days` days after the call."""
    if not user.has_perm(PERMISSION):
        raise Refused("You may not change retention policies.")
    if keep_days is not None and keep_days < 1:
        raise Refused("Keep recordings at least one day, or forever.")
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(account=account)
        before = policy.keep_days
        if before == keep_days:
            return policy
        policy.keep_days, policy.updated_by = keep_days, user
        policy.save()
        record(
            "retention.policy_change",
            request=request,
            actor=user,
            obj=account,
            details={"account": account.name, "keep_days_before": before, "keep_days": keep_days},
        )
    return policy


def cutoff(policy: RetentionPolicy, now: datetime) -> datetime:
    return now - timedelta(days=policy.keep_days)


def _older_than(moment: datetime) -> Q:
    # By the call's start; a recording whose start the vendor never said goes by when it came.
    unknown = Q(started_at__isnull=True)
    return (
        Q(started_at__lt=moment)
        | (unknown & Q(downloaded_at__lt=moment))
        | (unknown & Q(downloaded_at__isnull=True, created_at__lt=moment))
    )


def _expired(policy: RetentionPolicy, now: datetime) -> QuerySet:
    return (
        Recording.objects.filter(account_id=policy.account_id)
        .exclude(state=RecordingState.DELETED)
        .filter(_older_than(cutoff(policy, now)))
    )


def retention_due(policy: RetentionPolicy, now: datetime) -> QuerySet:
    """What a run would delete now, oldest first."""
    return _expired(policy, now).filter(legal_hold=False).order_by("started_at", "id")


def retention_held(policy: RetentionPolicy, now: datetime) -> QuerySet:
    return _expired(policy, now).filter(legal_hold=True)


@dataclass
class Preview:
    policy: RetentionPolicy
    cutoff: datetime
    count: int
    held: int
    first: list


def retention_preview(now: datetime | None = None, first: int = 20) -> list[Preview]:
    now = now or timezone.now()
    policies = RetentionPolicy.objects.filter(keep_days__isnull=False).select_related("account")
    return [
        Preview(
            policy=policy,
            cutoff=cutoff(policy, now),
            count=retention_due(policy, now).count(),
            held=retention_held(policy, now).count(),
            first=list(retention_due(policy, now)[:first]),
        )
        for policy in policies.order_by("account__name")
    ]


def retention_apply(now: datetime | None = None) -> dict:
    """Delete what every policy says has been kept long enough; one access event per run."""
    now = now or timezone.now()
    budget = settings.RETENTION_MAX_PER_RUN
    accounts, total = [], 0
    for policy in RetentionPolicy.objects.filter(keep_days__isnull=False).select_related("account"):
        reason = f"retention policy: {policy.keep_days} days"
        ids = list(retention_due(policy, now).values_list("id", flat=True)[: max(budget, 0)])
        deleted, refused = 0, 0
        for recording_id in ids:
            try:
                recording_delete(
                    recording_id=recording_id,
                    user=None,
                    reason=reason,
                    source=DeletionSource.RETENTION,
                )
            except Refused:
                refused += 1  # held or being masked since the query: left for another night
            else:
                deleted += 1
        budget -= len(ids)
        total += deleted
        RetentionPolicy.objects.filter(id=policy.id).update(
            last_run_at=now, last_run_deleted=deleted
        )
        accounts.append(
            {
                "account": policy.account.name,
                "keep_days": policy.keep_days,
                "deleted": deleted,
                "refused": refused,
                "held_skipped": retention_held(policy, now).count(),
                "left_for_next_run": retention_due(policy, now).count(),
            }
        )
    summary = {"deleted": total, "accounts": accounts}
    record("retention.run", object_type="compliance.retentionpolicy", details=summary)
    return summary
