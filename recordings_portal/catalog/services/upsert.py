"""Turning what vendors say about recordings into catalog rows, a page at a time.

One SELECT for the page's existing rows, one bulk INSERT for the new ones and one bulk UPDATE
for the changed ones: the cost of a page does not grow with round trips per row. Inserts ignore
conflicts, so a webhook and a sync racing on the same recording cannot duplicate it.
"""

from __future__ import annotations

from dataclasses import dataclass

from recordings_portal.catalog.bulk import insert_ignoring_conflicts
from recordings_portal.catalog.models import Direction, Recording, RecordingState
from recordings_portal.vendors.connectors.base import RemoteRecording

# What the vendor is the authority on. Format, size, channels and the like are the vendor's
# word only until the file is downloaded; then the file itself says.
VENDOR_FIELDS = (
    "vendor_call_id",
    "started_at",
    "direction",
    "caller",
    "callee",
    "participants",
    "vendor_state",
    "vendor_sha256",
    "metadata",
)
DIRECTIONS = frozenset(Direction.values)  # computed once: it is asked for every row
PRE_DOWNLOAD_FIELDS = ("duration", "format", "channels", "sample_rate", "size")
GONE = "The vendor no longer has this recording; it was never downloaded."


@dataclass
class UpsertResult:
    new: int = 0
    updated: int = 0


def _values(remote: RemoteRecording) -> dict:
    return {
        "vendor_call_id": remote.vendor_call_id[:255],
        "started_at": remote.started_at,
        "direction": remote.direction if remote.direction in DIRECTIONS else "unknown",
        "caller": remote.caller[:128],
        "callee": remote.callee[:128],
        "participants": list(remote.participants),
        "vendor_state": remote.vendor_state[:40],
        "vendor_sha256": remote.sha256.lower()[:64],
        "metadata": remote.metadata,
        "duration": remote.duration,
        "format": remote.format[:10],
        "channels": remote.channels,
        "sample_rate": remote.sample_rate,
        "size": remote.size,
    }


def recordings_upsert(account, remotes: list[RemoteRecording]) -> UpsertResult:
    result = UpsertResult()
    if not remotes:
        return result
    by_id = {remote.external_id: remote for remote in remotes}  # last word wins in a page
    existing = {
        row.external_id: row
        for row in Recording.objects.filter(account=account, external_id__in=list(by_id))
    }
    to_create, to_update, changed_fields = [], [], set()
    for external_id, remote in by_id.items():
        values = _values(remote)
        row = existing.get(external_id)
        if row is None:
            state = RecordingState.FAILED if remote.gone else RecordingState.DISCOVERED
            error = (remote.gone_reason or GONE) if remote.gone else ""
            to_create.append(
                Recording(
                    account=account,
                    external_id=external_id,
                    state=state,
                    last_error=error,
                    **values,
                )
            )
            continue
        changes = _changes(row, values, remote)
        if changes:
            for name, value in changes.items():
                setattr(row, name, value)
            changed_fields.update(changes)
            to_update.append(row)
    if to_create:
        insert_ignoring_conflicts(Recording, to_create)
    if to_update:
        Recording.objects.bulk_update(to_update, sorted(changed_fields), batch_size=500)
    result.new, result.updated = len(to_create), len(to_update)
    return result


def _changes(row: Recording, values: dict, remote: RemoteRecording) -> dict:
    changes = {}
    fields = VENDOR_FIELDS + (() if row.storage_key else PRE_DOWNLOAD_FIELDS)
    for name in fields:
        value = values[name]
        if value in (None, "", [], {}):
            continue  # a page that omits a field does not erase what we know
        if name == "metadata":
            value = {**row.metadata, **value}
        if getattr(row, name) != value:
            changes[name] = value
    if remote.gone and row.state == RecordingState.DISCOVERED:
        changes["state"] = RecordingState.FAILED
        changes["last_error"] = remote.gone_reason or GONE
    return changes
