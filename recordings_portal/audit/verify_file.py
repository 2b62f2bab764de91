"""Check an exported access log from the file alone.

    python -m recordings_portal.audit.verify_file EXPORT [--manifest EXPORT.manifest.json]
    python verify_file.py EXPORT            # the same, from a lone copy of this file

Standard library only, so an outside auditor can copy this one file and run it with Python 3.11
or later, without the portal. It is also the one definition of the chain's hash: audit.log
imports `canonical_json` and `chain_hash` from here, so the database check and the file check
cannot drift apart.

What it checks:
- every line: sha256(prev_hash + canonical JSON of its content) equals its hash, so an edited
  line fails;
- a contiguous export (the manifest says so): each line's prev_hash is the hash of the line
  before and the ids increase, so a deleted, inserted or reordered line fails;
- the manifest (EXPORT.manifest.json by default): the file's sha256 and size, the count, the
  first and last ids and hashes, so a truncated or extended file fails, and the last hash pins
  the tip of the range.
A filtered export is not a contiguous piece of the chain: its lines are checked one by one and
against the manifest, but the links between them cannot be. Check such a file against the
database: `manage.py verify_access_log --file EXPORT --against-database`.

Exit status: 0 when everything holds, 1 when something does not (naming the event and line).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GENESIS_HASH = "0" * 64  # the prev_hash of the first event ever (audit.models.GENESIS_HASH)

# The event fields the hash covers (the keys of audit.log.canonical_content)...
CONTENT_FIELDS = (
    "at",
    "actor_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip",
    "user_agent",
    "details",
)
# ...and the columns of an export, in order: the id, the content, the two hashes.
COLUMNS = ("id", *CONTENT_FIELDS, "prev_hash", "hash")
MANIFEST_SUFFIX = ".manifest.json"
# A CSV cell starting with one of these is a formula to a spreadsheet. Such cells are written
# with a leading apostrophe; every cell starting with one has it, so reading strips exactly one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


# One encoder for every call: json.dumps() with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(content: dict) -> bytes:
    """UTF-8 JSON, keys sorted, no spaces: json.dumps(content, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False).encode()."""
    return _CANONICAL.encode(content).encode()


def chain_hash(prev_hash: str, content: dict) -> str:
    return link_hash(prev_hash, canonical_json(content))


def link_hash(prev_hash: str, payload: bytes) -> str:
    """chain_hash() of content already in canonical JSON."""
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def csv_escape(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_unescape(value: str) -> str:
    return value[1:] if value.startswith("'") else value


# --- reading an export -------------------------------------------------------------------


class FormatError(ValueError):
    pass


def _jsonl_events(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise FormatError(f"line {number} is not JSON: {exc}") from None
            if not isinstance(event, dict) or set(event) != set(COLUMNS):
                raise FormatError(f"line {number} does not have the export's fields")
            yield number, event


def _csv_events(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != COLUMNS:
            raise FormatError(f"the header is not {','.join(COLUMNS)}")
        for row in reader:
            number = reader.line_num
            if len(row) != len(COLUMNS):
                raise FormatError(f"line {number} has {len(row)} cells, not {len(COLUMNS)}")
            cells = dict(zip(COLUMNS, (csv_unescape(cell) for cell in row), strict=True))
            try:
                # Empty cells are None for the two fields that can be None (an id, an address).
                cells["id"] = int(cells["id"])
                cells["actor_id"] = int(cells["actor_id"]) if cells["actor_id"] else None
                cells["ip"] = cells["ip"] or None
                cells["details"] = json.loads(cells["details"])
            except ValueError as exc:
                raise FormatError(f"line {number}: {exc}") from None
            yield number, cells


def read_events(path: Path, file_format: str) -> Iterator[tuple[int, dict]]:
    """(line number, event) for each event of the file, in file order, one at a time."""
    return _csv_events(path) if file_format == "csv" else _jsonl_events(path)


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# --- checking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileVerification:
    intact: bool
    checked: int
    contiguous: bool
    first_id: int | None = None
    last_id: int | None = None
    broken_id: int | None = None
    line: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()

    def __str__(self):
        if not self.intact:
            where = f"event #{self.broken_id}" if self.broken_id is not None else "the file"
            at_line = f" (line {self.line})" if self.line else ""
            return f"Broken at {where}{at_line}: {self.reason}"
        if not self.checked:
            text = "Intact: the file holds no events."
        elif self.contiguous:
            text = (
                f"Intact: {self.checked} events, a contiguous chain from event "
                f"#{self.first_id} through event #{self.last_id}."
            )
        else:
            text = (
                f"Each of the {self.checked} events matches its hash (events #{self.first_id} "
                f"to #{self.last_id}); a filtered export is not a contiguous chain, so the "
                "links between them were not checked."
            )
        return " ".join([text, *self.notes])


def _guess_format(path: Path, manifest: dict | None) -> str:
    if manifest and manifest.get("format") in ("csv", "jsonl"):
        return manifest["format"]
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def load_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read the manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise FormatError(f"the manifest {path} is not a JSON object")
    return manifest


def _event_problem(event: dict, before: dict | None, contiguous: bool) -> str:
    """Why this event does not hold (given the one on the line before it), or ""."""
    if not isinstance(event["id"], int) or not isinstance(event["prev_hash"], str):
        return "its id or prev_hash is malformed"
    content = {name: event[name] for name in CONTENT_FIELDS}
    if chain_hash(event["prev_hash"], content) != event["hash"]:
        return "its content does not match its hash: the event was edited"
    if before is None:
        return ""
    if contiguous and event["prev_hash"] != before["hash"]:
        return (
            f"its prev_hash is not the hash of event #{before['id']} on the line before: "
            "an event was deleted, inserted or reordered here"
        )
    if event["id"] <= before["id"]:
        return f"its id does not follow #{before['id']}"
    return ""


def verify_file(path: Path | str, manifest: dict | None = None) -> FileVerification:
    """Check an export's events (and its manifest, when given) from the file alone."""
    path = Path(path)
    contiguous = bool(manifest and manifest.get("contiguous"))
    checked, first, last = 0, None, None
    try:
        for line, event in read_events(path, _guess_format(path, manifest)):
            problem = _event_problem(event, last, contiguous)
            if problem:
                return FileVerification(
                    False, checked, contiguous, broken_id=event["id"], line=line, reason=problem
                )
            # Only what the next line and the manifest need: memory stays flat.
            last = {key: event[key] for key in ("id", "prev_hash", "hash")}
            first = first or last
            checked += 1
    except (FormatError, UnicodeDecodeError) as exc:
        return FileVerification(False, checked, contiguous, reason=str(exc))
    first_id = first["id"] if first else None
    last_id = last["id"] if last else None
    notes = []
    if manifest is None:
        notes.append(
            "No manifest: the file's size, count and last hash were not checked, so a file cut "
            "short at a line boundary would pass."
        )
    else:
        problem = _manifest_problem(path, manifest, checked, first, last)
        if problem:
            return FileVerification(
                False, checked, contiguous, first_id, last_id, reason=f"manifest: {problem}"
            )
        if contiguous and first and first["prev_hash"] == GENESIS_HASH:
            notes.append("It starts at the beginning of the chain.")
    return FileVerification(True, checked, contiguous, first_id, last_id, notes=tuple(notes))


def _manifest_problem(path: Path, manifest: dict, count: int, first, last) -> str:
    sha256, size = file_sha256(path)
    if manifest.get("sha256") != sha256:
        return f"the file's sha256 is {sha256}, the manifest says {manifest.get('sha256')}"
    if manifest.get("bytes") not in (None, size):
        return f"the file has {size} bytes, the manifest says {manifest['bytes']}"
    if manifest.get("count") != count:
        return f"the file holds {count} events, the manifest says {manifest.get('count')}"
    expected = {
        "first_id": first["id"] if first else None,
        "last_id": last["id"] if last else None,
        "first_prev_hash": first["prev_hash"] if first else None,
        "first_hash": first["hash"] if first else None,
        "last_hash": last["hash"] if last else None,
    }
    stated = {**manifest.get("range", {}), **manifest}
    for key, value in expected.items():
        if stated.get(key) != value:
            return f"{key} is {value} in the file, {stated.get(key)} in the manifest"
    return ""


def main(argv: list[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m recordings_portal.audit.verify_file",
        description="Check an exported access log (CSV or JSON Lines) from the file alone.",
    )
    parser.add_argument("file", type=Path, help="the export")
    parser.add_argument(
        "--manifest", type=Path, help=f"its manifest (default: the file name + {MANIFEST_SUFFIX})"
    )
    args = parser.parse_args(argv)
    manifest_path = args.manifest or args.file.with_name(args.file.name + MANIFEST_SUFFIX)
    try:
        manifest = load_manifest(manifest_path) if manifest_path.exists() else None
        if args.manifest and manifest is None:
            raise FormatError(f"no manifest at {manifest_path}")
        if not args.file.exists():
            raise FormatError(f"no file at {args.file}")
    except FormatError as exc:
        print(f"Cannot check: {exc}", file=out)
        return 1
    result = verify_file(args.file, manifest)
    print(str(result), file=out)
    return 0 if result.intact else 1


if __name__ == "__main__":
    # Lines of a CSV export may hold any Unicode; print them whatever the console's encoding.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    sys.exit(main())
