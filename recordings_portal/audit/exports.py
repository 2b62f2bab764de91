"""Exports of the access log (CSV or JSON Lines) and their manifests, in constant memory.

An export is pinned to the newest event there was when it was asked for (`through`), so the
same request always gives the same bytes: the log is append-only and nothing at or below that
id changes. That is what lets the manifest be a separate file, computed by streaming the same
range again through the hash rather than holding the file anywhere.

Why a sidecar manifest (EXPORT.manifest.json) rather than a trailer line: the manifest's
sha256 is the sha256 of the whole export, which anyone can check with `sha256sum`; the export
stays a plain CSV or JSON Lines file every tool reads; and CSV has no place for a trailer.

Each line carries the event's id, its hashed content (verify_file.CONTENT_FIELDS) and its
prev_hash and hash, so recomputing sha256(prev_hash + canonical JSON of the content) checks
each line, and, for a contiguous export, each line's prev_hash checks the link to the line
before. `recordings_portal/audit/verify_file.py` does both from the file alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .log import chain_rows, row_content
from .models import AccessEvent
from .selectors import Filters, events, tip_id
from .verify_file import COLUMNS, MANIFEST_SUFFIX, canonical_json, csv_escape, read_events

FORMATS = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
BATCH_SIZE = 500  # rows per query and per chunk written: ~1.5 MB held, whatever the export size
HASH_RULE = (
    "hash = sha256(prev_hash + canonical JSON of {at, actor_id, actor, action, object_type, "
    "object_id, outcome, ip, user_agent, details}), canonical JSON being UTF-8 with sorted keys "
    "and no spaces; the first event's prev_hash is 64 zeros. In CSV, empty actor_id and ip "
    "cells are null, details is JSON, and a cell starting with = + - @ tab CR or ' has one "
    "apostrophe prepended."
)


@dataclass(frozen=True)
class ExportSpec:
    filters: Filters
    format: str
    through: int  # the newest event the export may hold (0: the log was empty)

    @classmethod
    def pinned(cls, filters: Filters, file_format: str, through: int | None = None) -> ExportSpec:
        if file_format not in FORMATS:
            raise ValueError(f"unknown format {file_format!r}: csv or jsonl")
        newest = tip_id() or 0
        return cls(filters, file_format, newest if through is None else min(through, newest))

    def events(self):
        return events(self.filters, through=self.through)

    def count(self) -> int:
        return self.events().count()

    @property
    def filename(self) -> str:
        kind = "" if self.filters.contiguous else "-filtered"
        return f"access-log-through-{self.through}{kind}.{self.format}"

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


def _line_record(row: tuple) -> dict:
    content = row_content(row)
    return {"id": row[0], **content, "prev_hash": row[11], "hash": row[12]}


def _encode_jsonl(rows: list[tuple]) -> bytes:
    return b"".join(
        json.dumps(_line_record(row), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for row in rows
    )


def _csv_cells(row: tuple) -> list[str]:
    record = _line_record(row)
    record["details"] = canonical_json(record["details"]).decode()
    return [csv_escape("" if record[name] is None else str(record[name])) for name in COLUMNS]


def _encode_csv(rows: list[tuple]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(_csv_cells(row) for row in rows)
    return buffer.getvalue().encode()


def _csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(COLUMNS)
    return buffer.getvalue().encode()


class ExportStream:
    """Iterating yields the export's bytes, a batch of lines at a time; afterwards
    manifest() describes exactly those bytes."""

    def __init__(self, spec: ExportSpec, batch_size: int = BATCH_SIZE):
        self.spec = spec
        self.batch_size = batch_size
        self.digest = hashlib.sha256()
        self.size = self.count = 0
        self.first: tuple | None = None  # (id, prev_hash, hash)
        self.last: tuple | None = None
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        encode = _encode_csv if self.spec.format == "csv" else _encode_jsonl
        if self.spec.format == "csv":
            yield self._seen(_csv_header())
        batch = []
        for row in chain_rows(self.spec.events(), self.batch_size):
            batch.append(row)
            if len(batch) == self.batch_size:
                yield self._seen(encode(batch), batch)
                batch = []
        if batch:
            yield self._seen(encode(batch), batch)
        self.finished = True

    def _seen(self, data: bytes, rows: list[tuple] = ()) -> bytes:
        self.digest.update(data)
        self.size += len(data)
        if rows:
            self.count += len(rows)
            self.first = self.first or (rows[0][0], rows[0][11], rows[0][12])
            self.last = (rows[-1][0], rows[-1][11], rows[-1][12])
        return data

    def manifest(self, created_by: str = "") -> dict:
        if not self.finished:
            raise RuntimeError("the manifest describes a finished export")
        first, last = self.first or (None, None, None), self.last or (None, None, None)
        return {
            "kind": "Recordings Portal access log export",
            "version": 1,
            "file": self.spec.filename,
            "format": self.spec.format,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_by": created_by,
            "filters": self.spec.filters.describe(),
            "contiguous": self.spec.filters.contiguous,
            "range": {"first_id": first[0], "last_id": last[0], "through_id": self.spec.through},
            "count": self.count,
            "first_prev_hash": first[1],
            "first_hash": first[2],
            "last_hash": last[2],
            "sha256": self.digest.hexdigest(),
            "bytes": self.size,
            "hash_rule": HASH_RULE,
            "verify_with": "python -m recordings_portal.audit.verify_file FILE",
        }


def build_manifest(spec: ExportSpec, created_by: str = "") -> dict:
    """The manifest of an export, by streaming the same pinned range through the hash."""
    stream = ExportStream(spec)
    for _ in stream:
        pass
    return stream.manifest(created_by)


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def write_export(spec: ExportSpec, path: Path, created_by: str = "") -> dict:
    """Write the export and its manifest next to it (FILE.manifest.json); return the manifest.

    Each file appears complete or not at all (written aside, then renamed).
    """
    stream = ExportStream(spec)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as file:
            for chunk in stream:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(path)
        manifest = stream.manifest(created_by)
        manifest["file"] = path.name
        partial.write_bytes(manifest_bytes(manifest))
        partial.replace(manifest_path(path))
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def compare_with_database(path: Path, file_format: str, batch_size: int = BATCH_SIZE) -> str:
    """Why the export's lines are not the database's events (hash by id), or "".

    The way to check a filtered export: its lines cannot be linked to each other, but each
    line's hash can be found in the chain, which verify() checks.
    """
    batch: list[tuple[int, int, str]] = []

    def check(batch) -> str:
        stored = dict(
            AccessEvent.objects.filter(id__in=[pk for _, pk, _ in batch]).values_list("id", "hash")
        )
        for line, pk, line_hash in batch:
            if pk not in stored:
                return f"Event #{pk} (line {line}) is not in the database."
            if stored[pk] != line_hash:
                return f"Event #{pk} (line {line}) has a different hash in the database."
        return ""

    for line, event in read_events(path, file_format):
        batch.append((line, event["id"], event["hash"]))
        if len(batch) == batch_size:
            problem = check(batch)
            if problem:
                return problem
            batch = []
    return check(batch) if batch else ""
