"""What the dashboard reads: a few aggregate queries, however many recordings there are.

Three queries in all: per-account counts and storage (one GROUP BY over recordings), per-day
counts per vendor kind (TruncDate + values().annotate()), and the latest failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from recordings_portal.catalog.models import PLAYABLE_STATES, Recording, RecordingState
from recordings_portal.vendors.kinds import KINDS
from recordings_portal.vendors.models import VendorAccount

CHART_DAYS = 30
RECENT_FAILURES = 10
WAITING_STATES = (RecordingState.DISCOVERED, RecordingState.DOWNLOADING)
# A row points to a file only once the file is complete (README), so summing the sizes of rows
# that point to one is the storage used, without walking the disk.
STORED = Q(recordings__state__in=PLAYABLE_STATES) & ~Q(recordings__storage_key="")


@dataclass
class AccountSummary:
    account: VendorAccount
    total: int  # every recording the catalog keeps for it, deleted tombstones excepted
    available: int
    waiting: int
    failed: int
    stored_bytes: int


@dataclass
class Totals:
    accounts: int = 0
    recordings: int = 0
    stored_bytes: int = 0
    discovered: int = 0
    downloading: int = 0
    failed: int = 0

    @property
    def waiting(self) -> int:
        return self.discovered + self.downloading


@dataclass
class DayBucket:
    day: date
    counts: dict[str, int] = field(default_factory=dict)  # vendor kind -> recordings

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _count(state) -> Count:
    return Count("recordings", filter=Q(recordings__state=state))


def account_summaries() -> tuple[list[AccountSummary], Totals]:
    """Every account with its counts and bytes stored, and the sums over all of them."""
    accounts = VendorAccount.objects.annotate(
        n_total=Count("recordings", filter=~Q(recordings__state=RecordingState.DELETED)),
        n_available=Count("recordings", filter=Q(recordings__state__in=PLAYABLE_STATES)),
        n_discovered=_count(RecordingState.DISCOVERED),
        n_downloading=_count(RecordingState.DOWNLOADING),
        n_failed=_count(RecordingState.FAILED),
        stored=Sum("recordings__size", filter=STORED),
    ).order_by("name")
    summaries, totals = [], Totals()
    for account in accounts:
        summary = AccountSummary(
            account=account,
            total=account.n_total,
            available=account.n_available,
            waiting=account.n_discovered + account.n_downloading,
            failed=account.n_failed,
            stored_bytes=account.stored or 0,
        )
        summaries.append(summary)
        totals.accounts += 1
        totals.recordings += summary.total
        totals.stored_bytes += summary.stored_bytes
        totals.discovered += account.n_discovered
        totals.downloading += account.n_downloading
        totals.failed += summary.failed
    return summaries, totals


def chart_window(now: datetime | None = None, days: int = CHART_DAYS) -> list[date]:
    """The last `days` calendar days in the display time zone, today included, oldest first."""
    today = timezone.localdate(now or timezone.now())
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def daily_counts(now: datetime | None = None, days: int = CHART_DAYS) -> list[DayBucket]:
    """Recordings per day of their call's start and per vendor kind, one bucket for every day.

    Deleted tombstones are left out: the chart shows what the catalog holds.
    """
    window = chart_window(now, days)
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(window[0], time.min), zone)
    rows = (
        Recording.objects.filter(started_at__gte=start)
        .exclude(state=RecordingState.DELETED)
        .annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day", "account__kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    buckets = {day: DayBucket(day) for day in window}
    for row in rows:
        bucket = buckets.get(row["day"])
        if bucket is not None:  # a call starting "tomorrow" (a vendor's clock) is left out
            kind = row["account__kind"]
            bucket.counts[kind] = bucket.counts.get(kind, 0) + row["n"]
    return [buckets[day] for day in window]


def kinds_in(buckets: list[DayBucket]) -> list[tuple[str, str]]:
    """(kind, label) of the vendor kinds with recordings in the window, in registry order."""
    present = {kind for bucket in buckets for kind in bucket.counts}
    known = [(kind, spec.label) for kind, spec in KINDS.items() if kind in present]
    return known + [(kind, kind) for kind in sorted(present - set(KINDS))]


def recent_failures(limit: int = RECENT_FAILURES) -> list[Recording]:
    return list(
        Recording.objects.filter(state=RecordingState.FAILED)
        .select_related("account")
        .only(
            "id",
            "external_id",
            "started_at",
            "last_error",
            "updated_at",
            "download_attempts",
            "account__name",
            "account__kind",
        )
        .order_by("-updated_at", "-id")[:limit]
    )
