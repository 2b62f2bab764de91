"""Importing the recordings a customer's file names (a Kaleyra call report, Kore.ai session ids).

The connector reads the file; this decides what is imported. A file that cannot be used as a
whole (too big, not text, not the expected columns, no rows) changes nothing and says why; in
a usable file, the rows that cannot be read are reported by line and the others imported. The
new rows' downloads are queued once the import is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.vendors.connectors.base import ImportInvalid, ImportLine
from recordings_portal.vendors.connectors.registry import connector_for, supports
from recordings_portal.vendors.crypto import CredentialsUnreadable
from recordings_portal.vendors.kinds import IMPORT

from .upsert import recordings_upsert

MAX_BYTES = 20 * 1024 * 1024  # a year of a busy account's call report is a few MB
BATCH = 1000  # rows per upsert: keeps each IN (...) well under database parameter limits


class ImportFailed(Exception):
    """The file was not imported; nothing changed. `problems` lists lines when that is why."""

    def __init__(self, message: str, problems: list[ImportLine] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


@dataclass
class ImportResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[ImportLine] = field(default_factory=list)
    problems: list[ImportLine] = field(default_factory=list)
    download_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.new} new", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        parts.append(f"{len(self.skipped)} skipped")
        if self.problems:
            parts.append(f"{len(self.problems)} with problems")
        return ", ".join(parts) + f"; {len(self.download_ids)} downloads queued."


def recordings_import(account, data: bytes, filename: str = "") -> ImportResult:
    """Import the recordings named in `data`; raises ImportFailed, changing nothing."""
    if not supports(account.kind, IMPORT):
        raise ImportFailed(f"{account.kind_label} accounts do not import files.")
    if len(data) > MAX_BYTES:
        raise ImportFailed(
            f"The file is {len(data) / 2**20:.1f} MB; files up to {MAX_BYTES // 2**20} MB are "
            "imported. Split it and import the parts."
        )
    try:
        parsed = connector_for(account).parse_import(data, filename)
    except CredentialsUnreadable as exc:
        raise ImportFailed(str(exc)) from exc
    except ImportInvalid as exc:
        raise ImportFailed(exc.message) from exc
    if not parsed.recordings and parsed.problems:
        raise ImportFailed(
            f"None of the file's rows could be imported ({len(parsed.problems)} with problems).",
            parsed.problems,
        )
    result = ImportResult(skipped=list(parsed.skipped), problems=list(parsed.problems))
    remotes = list({remote.external_id: remote for remote in parsed.recordings}.values())
    with transaction.atomic():
        for start in range(0, len(remotes), BATCH):
            upserted = recordings_upsert(account, remotes[start : start + BATCH])
            result.new += upserted.new
            result.updated += upserted.updated
        result.unchanged = len(remotes) - result.new - result.updated
        result.download_ids = _downloadable(account, remotes)
        ids = list(result.download_ids)
        transaction.on_commit(lambda: _enqueue(ids))
    return result


def _downloadable(account, remotes) -> list[int]:
    ready = [remote.external_id for remote in remotes if remote.ready and not remote.gone]
    found = []
    for start in range(0, len(ready), BATCH):
        found += Recording.objects.filter(
            account=account,
            external_id__in=ready[start : start + BATCH],
            state=RecordingState.DISCOVERED,
        ).values_list("id", flat=True)
    return sorted(found)


def _enqueue(recording_ids: list[int]) -> None:
    from recordings_portal.catalog.tasks import download_recording

    for recording_id in recording_ids:
        download_recording.delay(recording_id)
