"""Appending to and verifying the access log's hash chain.

Each event stores sha256(previous event's hash + canonical JSON of its own content). Appends
serialise on a transaction-level lock (a PostgreSQL advisory lock; SQLite's write lock, taken
at BEGIN IMMEDIATE), so two writers never read the same previous hash and the chain never forks.

The lock serialises every append in the portal, so on PostgreSQL it covers only work on the
server: one call to audit_accessevent_append() (migration 0003) locks, reads the tip and
inserts, with the canonical JSON computed here beforehand. The lock is held until commit, and
a commit waits for the disk (fsync): held through that wait, it would let one append reach the
disk at a time. So an append that owns its transaction commits without waiting
(synchronous_commit off, for that transaction only), which releases the lock at once, and then,
outside the lock, waits until the WAL is flushed past it before record() returns: concurrent
appends share their flushes, and an event is on disk when record() returns. A crash in between
loses only events whose record() had not returned, and always a suffix of the chain (the WAL is
flushed in order).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from recordings_portal.lib.client_ip import client_ip

from .models import GENESIS_HASH, AccessEvent, Outcome

# The hash is defined in the standalone file verifier, so both checks use the same one. (On
# PostgreSQL the append function of migration 0003 computes the last step, sha256 of prev_hash
# and the canonical JSON made here; verify() recomputes every hash in Python.)
from .verify_file import canonical_json, chain_hash, link_hash

__all__ = [
    "Verification",
    "canonical_content",
    "canonical_json",
    "chain_hash",
    "record",
    "record_verification",
    "verify",
]

# An arbitrary constant naming the advisory lock that guards the chain's tip.
CHAIN_LOCK_KEY = 0x5245_4350  # "RECP"
MAX_USER_AGENT = 512
FLUSH_MESSAGE = "recordings_portal.audit.flush"


def canonical_content(event: AccessEvent) -> dict:
    """Exactly the fields the hash covers, in forms that survive a database round trip."""
    return {
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor": event.actor_username,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details,
    }


def _client_ip(request) -> str | None:
    raw = client_ip(request) if request is not None else None
    try:
        # The database keeps no IPv6 zone ("%eth0"): neither does the hash.
        address = str(ipaddress.ip_address(raw.split("%", 1)[0])) if raw else None
    except ValueError:
        return None
    # Hash the address in the form the database gives back, or verify() would see an edit:
    # Python writes an IPv4-mapped address as ::ffff:102:304, Django and PostgreSQL as
    # ::ffff:1.2.3.4 (what a dual-stack server sees for every IPv4 client).
    return AccessEvent._meta.get_field("ip").get_prep_value(address)


# The event's columns in insert order: the arguments of audit_accessevent_append() (migration
# 0003) on PostgreSQL, the columns of the INSERT elsewhere.
_INSERTED = [field for field in AccessEvent._meta.concrete_fields if not field.primary_key]
_LINK = ("prev_hash", "hash")
# audit_accessevent_append()'s parameters: these columns, then payload, commit without
# waiting, lock key, genesis hash.
_APPEND_COLUMNS = (
    "at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip",
    "user_agent",
    "details",
)
_APPEND = (
    "SELECT id, prev_hash, hash FROM audit_accessevent_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _insert_values(event: AccessEvent) -> dict:
    """The event's columns as the ORM would send them (the link is filled in under the lock)."""
    return {
        field.attname: field.get_db_prep_save(getattr(event, field.attname), connection)
        for field in _INSERTED
        if field.attname not in _LINK
    }


def _append_postgresql(values: dict, payload: bytes, owns_transaction: bool) -> tuple:
    """One call: the function takes the lock, reads the tip and inserts, all on the server, so
    no round trip to the client happens while the lock that serialises every append is held.
    Owning its transaction (autocommit), it commits without waiting for the disk."""
    arguments = [values[name] for name in _APPEND_COLUMNS]
    arguments += [payload, owns_transaction, CHAIN_LOCK_KEY, GENESIS_HASH]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND, arguments)
        return cursor.fetchone()


def _append_locked(values: dict, payload: bytes) -> tuple:
    """Elsewhere (SQLite): the database's write lock, taken at BEGIN IMMEDIATE, is the lock."""
    quote = connection.ops.quote_name
    table = quote(AccessEvent._meta.db_table)
    columns = ", ".join(quote(field.column) for field in _INSERTED)
    placeholders = ", ".join(["%s"] * len(_INSERTED))
    # Names from the model, every value bound as a parameter: nothing here comes from a user.
    tip_sql = f"SELECT {quote('hash')} FROM {table} ORDER BY {quote('id')} DESC LIMIT 1"  # noqa: S608
    insert_sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING {quote('id')}"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(tip_sql)
        last = cursor.fetchone()
        prev_hash = last[0] if last else GENESIS_HASH
        link = {"prev_hash": prev_hash, "hash": link_hash(prev_hash, payload)}
        cursor.execute(insert_sql, [{**values, **link}[field.attname] for field in _INSERTED])
        return cursor.fetchone()[0], link["prev_hash"], link["hash"]


def _wait_until_durable() -> None:
    """Return once the WAL is on disk up to here, so up to the append just committed.

    A transaction that wrote WAL commits synchronously (the session's own setting), which
    flushes the WAL up to its commit record: one flush serves every backend waiting at the
    same moment. An empty transactional logical message is the smallest such write, and any
    role may emit it. (A transaction that only takes an id writes nothing before its commit
    record, and PostgreSQL commits it without flushing.)
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_logical_emit_message(true, %s, '')", [FLUSH_MESSAGE])


def record(
    action: str,
    *,
    request=None,
    actor=None,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = Outcome.SUCCESS,
    details: dict | None = None,
) -> AccessEvent:
    """Append one event. `actor` defaults to the request's user; `obj` fills type and id."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    user_agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    event = AccessEvent(
        at=timezone.now(),
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        ip=_client_ip(request),
        user_agent=user_agent[:MAX_USER_AGENT],
        # A JSON round trip now, so what is hashed is what the database will give back.
        details=json.loads(json.dumps(details or {}, default=str)),
    )
    payload = canonical_json(canonical_content(event))  # all the hash needs but the link
    values = _insert_values(event)
    # Inside a caller's transaction the commit is the caller's: it stays synchronous, and the
    # lock is held until it.
    owns_transaction = not connection.in_atomic_block
    if connection.vendor == "postgresql":
        appended = _append_postgresql(values, payload, owns_transaction)
    else:
        appended = _append_locked(values, payload)
    event.pk, event.prev_hash, event.hash = appended
    event._state.adding, event._state.db = False, connection.alias
    if owns_transaction:
        _wait_until_durable()
    return event


@dataclass(frozen=True)
class Verification:
    intact: bool
    checked: int
    last_good_id: int | None
    broken_id: int | None = None
    reason: str = ""

    def __str__(self):
        if self.intact:
            if not self.checked:
                return "The access log is empty."
            return f"Intact: {self.checked} events, through event #{self.last_good_id}."
        return f"Broken at event #{self.broken_id}: {self.reason}"


def record_verification(result: Verification, *, request=None, **details) -> AccessEvent:
    """Verifying is itself an access event: what was checked and what was found."""
    return record(
        "audit.verify",
        request=request,
        outcome=Outcome.SUCCESS if result.intact else Outcome.FAILURE,
        details={
            "intact": result.intact,
            "checked": result.checked,
            "last_good_id": result.last_good_id,
            "broken_id": result.broken_id,
            "reason": result.reason,
            **details,
        },
    )


# The columns chain_rows() yields: the id, the hashed content (as canonical_content names it,
# in CONTENT_FIELDS order), then the two hashes.
CHAIN_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip",
    "user_agent",
    "details",
    "prev_hash",
    "hash",
)


def chain_rows(events: QuerySet | None = None, batch_size: int = 5000) -> Iterator[tuple]:
    """CHAIN_COLUMNS tuples of `events` (default: all) in id order, in bounded memory.

    One short query per window of batch_size consecutive ids, rather than one long cursor: no
    transaction stays open, and no query can return more than batch_size rows whatever plan
    the database picks (with stale statistics, "id > x ORDER BY id LIMIT n" was answered by
    sorting everything after x, every time).
    """
    events = AccessEvent.objects.all() if events is None else events
    bounds = events.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return
    rows = events.order_by("id").values_list(*CHAIN_COLUMNS)
    for low, high in _windows(bounds["low"] - 1, bounds["high"], batch_size):
        yield from rows.filter(id__gt=low, id__lte=high)


def _windows(after: int, last: int, width: int) -> Iterator[tuple[int, int]]:
    """(low, high] id windows covering (after, last]."""
    while after < last:
        yield after, min(after + width, last)
        after += width


def row_content(row: tuple) -> dict:
    """canonical_content() of a chain_rows() tuple, without building a model instance."""
    return {
        "at": row[1].astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": row[2],
        "actor": row[3],
        "action": row[4],
        "object_type": row[5],
        "object_id": row[6],
        "outcome": row[7],
        "ip": row[8],
        "user_agent": row[9],
        "details": row[10],
    }


def verify(batch_size: int = 5000) -> Verification:
    """Walk the chain in id order; report the first event whose link or content does not hold.

    It checks the events there were when it started: what is appended meanwhile is left for
    the next run, so "intact through event #N" names a fixed point.
    """
    tip = AccessEvent.objects.aggregate(tip=Max("id"))["tip"] or 0
    expected_prev, checked, last_id = GENESIS_HASH, 0, None
    for pk, payload, prev_hash, stored_hash in _chain_payloads(tip, batch_size):
        if prev_hash != expected_prev:
            reason = (
                "its previous-hash does not match the event before it: "
                "an event was deleted, inserted or reordered here"
            )
            return Verification(False, checked, last_id, pk, reason)
        if link_hash(prev_hash, payload) != stored_hash:
            reason = "its content does not match its hash: the event was edited"
            return Verification(False, checked, last_id, pk, reason)
        expected_prev, checked, last_id = stored_hash, checked + 1, pk
    return Verification(True, checked, last_id)


def _chain_payloads(tip: int, batch_size: int) -> Iterator[tuple[int, bytes, str, str]]:
    """(id, canonical JSON of the content, prev_hash, hash) up to `tip`, in id order.

    On PostgreSQL from plain rows: the database writes `at` in its canonical form, so no
    timestamp is parsed and formatted again, and ip and details come back as the same text
    the ORM reads. Elsewhere through chain_rows().
    """
    if connection.vendor != "postgresql":
        for row in chain_rows(AccessEvent.objects.filter(id__lte=tip), batch_size):
            yield row[0], canonical_json(row_content(row)), row[11], row[12]
        return
    for rows in _prefetched_windows(tip, batch_size):
        for row in rows:
            content = {
                "at": row[1],
                "actor_id": row[2],
                "actor": row[3],
                "action": row[4],
                "object_type": row[5],
                "object_id": row[6],
                "outcome": row[7],
                "ip": row[8],
                "user_agent": row[9],
                "details": json.loads(row[10]),
            }
            yield row[0], canonical_json(content), row[11], row[12]


_CANONICAL_AT = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def _prefetched_windows(tip: int, batch_size: int) -> Iterator[list[tuple]]:
    """The rows of each id window, the next one fetched while the caller hashes this one.

    The database works while Python hashes. One thread at a time uses this thread's
    connection: the caller does not touch the database while it holds a window.
    """
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    columns = [_CANONICAL_AT if name == "at" else quote(name) for name in CHAIN_COLUMNS]
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(AccessEvent._meta.db_table)}"  # noqa: S608 - names from the model
        " WHERE id > %s AND id <= %s ORDER BY id"
    )

    def fetch(window: tuple[int, int]) -> list[tuple]:
        with db.cursor() as cursor:
            cursor.execute(sql, list(window))
            return cursor.fetchall()

    windows = _windows(0, tip, batch_size)
    db.ensure_connection()
    db.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(fetch, window) if (window := next(windows, None)) else None
            while pending is not None:
                rows = pending.result()
                window = next(windows, None)
                pending = pool.submit(fetch, window) if window else None
                yield rows
    finally:
        db.dec_thread_sharing()
