"""Appending to and verifying the access log's hash chain.

Each event stores sha256(previous event's hash + canonical JSON of its own content). Appends
serialise on a transaction-level lock (a PostgreSQL advisory lock; SQLite's write lock, taken
at BEGIN IMMEDIATE), so two writers never read the same previous hash and the chain never forks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction
from django.utils import timezone

from .models import GENESIS_HASH, AccessEvent, Outcome

# An arbitrary constant naming the advisory lock that guards the chain's tip.
CHAIN_LOCK_KEY = 0x5245_4350  # "RECP"
MAX_USER_AGENT = 512


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


def canonical_json(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, content: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(content)).hexdigest()


def _client_ip(request) -> str | None:
    raw = request.META.get("REMOTE_ADDR") if request is not None else None
    try:
        return str(ipaddress.ip_address(raw)) if raw else None
    except ValueError:
        return None


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


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
    with transaction.atomic():
        _lock_chain()
        last = AccessEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event.prev_hash = last or GENESIS_HASH
        event.hash = chain_hash(event.prev_hash, canonical_content(event))
        event.save(force_insert=True)
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


def verify(batch_size: int = 5000) -> Verification:
    """Walk the whole chain in id order; report the first event whose link does not hold."""
    expected_prev, checked, last_id = GENESIS_HASH, 0, None
    events = AccessEvent.objects.order_by("id")
    for event in events.iterator(chunk_size=batch_size):
        if event.prev_hash != expected_prev:
            reason = (
                "its previous-hash does not match the event before it: "
                "an event was deleted, inserted or reordered here"
            )
            return Verification(False, checked, last_id, event.pk, reason)
        if chain_hash(event.prev_hash, canonical_content(event)) != event.hash:
            reason = "its content does not match its hash: the event was edited"
            return Verification(False, checked, last_id, event.pk, reason)
        expected_prev, checked, last_id = event.hash, checked + 1, event.pk
    return Verification(True, checked, last_id)
