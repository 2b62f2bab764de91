"""Reading the access log: filters, keyset pages, who accessed a recording, what a user accessed.

A time range is turned into an id range (the first event at or after `since` to the last one
before `until`) and everything in between is kept, so a range with no other filter is a
contiguous piece of the chain whatever the clocks did: an event's time is taken just before it
waits for the chain's lock, so neighbours can be a few milliseconds out of time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import CharField, Count, Max, Min, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from .models import AccessEvent
from .verify_file import canonical_json

PAGE_SIZE = 50
SUMMARY_LIMIT = 100
RECORDING_TYPE = "catalog.recording"
ACCOUNT_TYPE = "vendors.vendoraccount"
# Filters that only bound the range: an export using no other filter is a contiguous chain.
RANGE_FILTERS = ("since", "until", "from_id", "to_id")


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # events at or after
    until: datetime | None = None  # events before
    from_id: int | None = None
    to_id: int | None = None
    actor: str = ""  # a username, as recorded or as it is now
    actor_id: int | None = None
    action: str = ""  # exact, or a prefix ending in "*": "recording.*"
    recording: int | None = None
    vendor_account: int | None = None  # events on the account or on any of its recordings
    outcome: str = ""

    def used(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @property
    def contiguous(self) -> bool:
        return set(self.used()) <= set(RANGE_FILTERS)

    def as_query(self) -> dict[str, str]:
        """The filters as URL parameters, in the forms the filter form reads back."""
        return {name: _query_value(value) for name, value in self.used().items()}

    def describe(self) -> dict:
        """The filters for the log and manifests: times in full ISO 8601 with their offset."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in self.used().items()
        }


def _query_value(value) -> str:
    if isinstance(value, datetime):
        # What an <input type="datetime-local"> shows: local time, no offset.
        value = timezone.localtime(value).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return str(value)


def tip_id() -> int | None:
    """The id of the newest event."""
    return AccessEvent.objects.aggregate(tip=Max("id"))["tip"]


def id_range(filters: Filters, through: int | None = None) -> tuple[int, int] | None:
    """The (lowest, highest) ids the range allows, or None when no event can be in it."""
    low = filters.from_id or 0
    high = min(x for x in (filters.to_id, through, 2**63 - 1) if x is not None)
    if filters.since is not None:
        first = AccessEvent.objects.filter(at__gte=filters.since).aggregate(first=Min("id"))
        if first["first"] is None:
            return None
        low = max(low, first["first"])
    if filters.until is not None:
        last = AccessEvent.objects.filter(at__lt=filters.until).aggregate(last=Max("id"))
        if last["last"] is None:
            return None
        high = min(high, last["last"])
    return (low, high) if low <= high else None


def events(filters: Filters, through: int | None = None) -> QuerySet:
    """The events the filters select (unordered), none newer than `through` when given."""
    bounds = id_range(filters, through)
    if bounds is None:
        return AccessEvent.objects.none()
    selected = AccessEvent.objects.filter(id__gte=bounds[0], id__lte=bounds[1])
    if filters.actor:
        users = get_user_model().objects.filter(username=filters.actor).values("pk")
        selected = selected.filter(Q(actor_username=filters.actor) | Q(actor_id__in=users))
    if filters.actor_id:
        selected = selected.filter(actor_id=filters.actor_id)
    if filters.action.endswith("*"):
        selected = selected.filter(action__startswith=filters.action[:-1])
    elif filters.action:
        selected = selected.filter(action=filters.action)
    if filters.recording:
        selected = selected.filter(object_type=RECORDING_TYPE, object_id=str(filters.recording))
    if filters.vendor_account:
        selected = selected.filter(_on_account(filters.vendor_account))
    if filters.outcome:
        selected = selected.filter(outcome=filters.outcome)
    return selected


def _on_account(account_id: int) -> Q:
    from recordings_portal.catalog.models import Recording

    # object_id is text (objects of any kind); the recordings' ids are cast to match.
    recording_ids = (
        Recording.objects.filter(account_id=account_id)
        .annotate(text_id=Cast("id", output_field=CharField()))
        .values("text_id")
    )
    return Q(object_type=ACCOUNT_TYPE, object_id=str(account_id)) | Q(
        object_type=RECORDING_TYPE, object_id__in=recording_ids
    )


# --- pages -------------------------------------------------------------------------------


@dataclass
class Page:
    events: list[AccessEvent] = field(default_factory=list)
    newer: int | None = None  # pass as `after` for the page of newer events
    older: int | None = None  # pass as `before` for the page of older events

    @property
    def at_newest(self) -> bool:
        return self.newer is None


def page(
    filters: Filters, *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> Page:
    """One page of events, newest first, keyset-paginated on the id.

    `before` gives the page of events older than that id, `after` the page newer than it. One
    indexed query of size + 1 rows however deep the page: the extra row says whether there is
    more in the direction of travel, and a cursor says there is more where it came from.
    """
    selected = events(filters)
    if after is not None:
        rows = _shown(selected.filter(id__gt=after).order_by("id")[: size + 1])
        if not rows:  # nothing newer any more: the newest page rather than an empty one
            return page(filters, size=size)
        more_newer, rows = len(rows) > size, rows[:size][::-1]
        return Page(rows, newer=rows[0].id if more_newer else None, older=rows[-1].id)
    if before is not None:
        selected = selected.filter(id__lt=before)
    rows = _shown(selected.order_by("-id")[: size + 1])
    more_older, rows = len(rows) > size, rows[:size]
    if not rows:
        return Page(newer=before)
    older = rows[-1].id if more_older else None
    return Page(rows, newer=rows[0].id if before is not None else None, older=older)


def _shown(events: QuerySet) -> list[AccessEvent]:
    """The events, with what the page shows worked out once: a recording's id, the details."""
    rows = list(events)
    for event in rows:
        event.recording_id = _recording_id(event.object_type, event.object_id)
        event.details_text = canonical_json(event.details).decode() if event.details else ""
    return rows


def _recording_id(object_type: str, object_id: str) -> int | None:
    return int(object_id) if object_type == RECORDING_TYPE and object_id.isdigit() else None


# --- summaries ---------------------------------------------------------------------------


def who_accessed(filters: Filters) -> list[dict]:
    """Per actor: how many events, when first and last, which actions (most recent first)."""
    grouped = (
        events(filters)
        .values("actor_id", "actor_username", "action")
        .annotate(count=Count("id"), first=Min("at"), last=Max("at"))
    )
    actors: dict[tuple, dict] = {}
    for row in grouped:
        key = (row["actor_id"], row["actor_username"])
        entry = actors.setdefault(
            key,
            {
                "actor_id": row["actor_id"],
                "actor": row["actor_username"],
                "count": 0,
                "first": row["first"],
                "last": row["last"],
                "actions": {},
            },
        )
        entry["count"] += row["count"]
        entry["first"] = min(entry["first"], row["first"])
        entry["last"] = max(entry["last"], row["last"])
        entry["actions"][row["action"]] = row["count"]
    summary = sorted(actors.values(), key=lambda entry: entry["last"], reverse=True)
    for entry in summary:
        entry["actions"] = sorted(entry["actions"].items())
    return summary


def what_accessed(filters: Filters, limit: int = SUMMARY_LIMIT) -> tuple[list[dict], bool]:
    """Per object, the `limit` most recently accessed: count, last time, actions; and whether
    there were more. Grouped in the database, so a user with a million events costs no memory.
    """
    selected = events(filters).exclude(object_type="")
    objects = list(
        selected.values("object_type", "object_id")
        .annotate(count=Count("id"), last=Max("at"))
        .order_by("-last", "object_type", "object_id")[: limit + 1]
    )
    more = len(objects) > limit
    objects = objects[:limit]
    if not objects:
        return [], False
    which = Q()
    for entry in objects:
        which |= Q(object_type=entry["object_type"], object_id=entry["object_id"])
    actions: dict[tuple, list] = {}
    for row in (
        selected.filter(which)
        .values("object_type", "object_id", "action")
        .annotate(count=Count("id"))
        .order_by("action")
    ):
        actions.setdefault((row["object_type"], row["object_id"]), []).append(
            (row["action"], row["count"])
        )
    for entry in objects:
        entry["actions"] = actions.get((entry["object_type"], entry["object_id"]), [])
        entry["recording_id"] = _recording_id(entry["object_type"], entry["object_id"])
    return objects, more
