import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from recordings_portal.audit import log, verify_file
from recordings_portal.audit.exports import ExportSpec, compare_with_database, write_export
from recordings_portal.audit.log import record
from recordings_portal.audit.models import GENESIS_HASH, AccessEvent
from recordings_portal.audit.selectors import Filters
from recordings_portal.audit.verify_file import verify_file as check_file

from .conftest import append_chain

ROOT = Path(__file__).resolve().parents[2]
# Values a spreadsheet would run as formulas, or a CSV writer could trip on.
AWKWARD = ['=HYPERLINK("http://x")', "-2+3", "@SUM(A1)", "'quoted", 'a,b\n"c"', "Zoë 日本"]


@pytest.fixture
def events(db, make_user):
    sam = make_user("sam", "supervisor")
    for value in AWKWARD:
        record("auth.login_failed", object_type="auth.user", object_id=value)
    for n, value in enumerate(AWKWARD):
        record(
            "recording.play",
            actor=sam,
            object_type="catalog.recording",
            object_id=n + 1,
            details={"note": value, "n": n, "ratio": n / 3, "nested": {"b": [1, None], "a": True}},
        )
    record("recording.search", actor=sam, details={"q": AWKWARD[3]})
    append_chain(20, actor=sam, start=timezone.now(), step=timedelta(milliseconds=1))
    return AccessEvent.objects.order_by("id")


def download(client, name="audit:export", **params):
    response = client.get(reverse(name), params)
    assert response.status_code == 200, response.content
    if isinstance(response, StreamingHttpResponse):
        return response, b"".join(response.streaming_content)
    return response, response.content


def export_pair(client, tmp_path, file_format="jsonl", **filters):
    """Download an export and its manifest as an auditor would; return the two paths."""
    response, data = download(client, format=file_format, **filters)
    through = response["X-Access-Log-Through"]
    _, manifest = download(
        client, "audit:export-manifest", format=file_format, through=through, **filters
    )
    path = tmp_path / f"export.{file_format}"
    path.write_bytes(data)
    path.with_name(path.name + ".manifest.json").write_bytes(manifest)
    return path, json.loads(manifest)


def stored(event_id):
    return AccessEvent.objects.get(id=event_id)


# --- the file matches the chain ----------------------------------------------------------


def test_a_jsonl_export_carries_every_event_with_its_stored_hashes(auditor, events, tmp_path):
    expected = list(events)
    path, manifest = export_pair(auditor, tmp_path)
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(expected) == manifest["count"]
    for line, event in zip(lines, expected, strict=True):
        item = json.loads(line)
        assert (item["id"], item["prev_hash"], item["hash"]) == (
            event.id,
            event.prev_hash,
            event.hash,
        )
        assert {key: item[key] for key in verify_file.CONTENT_FIELDS} == log.canonical_content(
            event
        )
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["bytes"] == path.stat().st_size
    assert manifest["first_hash"] == expected[0].hash
    assert manifest["first_prev_hash"] == GENESIS_HASH
    assert manifest["last_hash"] == expected[-1].hash
    assert manifest["range"]["first_id"] == expected[0].id
    assert manifest["range"]["last_id"] == expected[-1].id
    assert manifest["contiguous"] is True
    result = check_file(path, manifest)
    assert result.intact, str(result)
    assert result.checked == len(expected)
    assert "starts at the beginning of the chain" in str(result)


def test_a_csv_export_round_trips_awkward_values_and_defuses_formulas(auditor, events, tmp_path):
    count = events.count()
    path, manifest = export_pair(auditor, tmp_path, "csv")
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == verify_file.COLUMNS
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "''quoted" in cells
    assert len(rows) - 1 == manifest["count"] == count
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    result = check_file(path, manifest)
    assert result.intact, str(result)


def test_the_export_is_recorded_and_pinned_so_its_manifest_matches_later(auditor, events, tmp_path):
    before = events.count()
    response, data = download(auditor, format="jsonl")
    through = int(response["X-Access-Log-Through"])
    export_event = AccessEvent.objects.filter(action="audit.export").get()
    assert export_event.id > through  # the export's own event is not in it
    assert export_event.details["count"] == before
    assert export_event.details["part"] == "file"
    assert export_event.details["contiguous"] is True
    record("recording.play", object_type="catalog.recording", object_id=1)  # the log moves on
    _, again = download(auditor, format="jsonl", through=through)
    assert again == data
    _, manifest = download(auditor, "audit:export-manifest", format="jsonl", through=through)
    assert json.loads(manifest)["sha256"] == hashlib.sha256(data).hexdigest()
    assert response["Content-Disposition"] == (
        f'attachment; filename="access-log-through-{through}.jsonl"'
    )


def test_a_time_range_export_is_contiguous_and_links_to_the_events_before(
    auditor, events, tmp_path
):
    middle = list(events)[10]
    since = middle.at.isoformat()
    path, manifest = export_pair(auditor, tmp_path, since=since)
    assert manifest["contiguous"] is True
    assert manifest["range"]["first_id"] == middle.id
    assert manifest["first_prev_hash"] == middle.prev_hash
    assert manifest["filters"] == {"since": middle.at.isoformat()}
    assert check_file(path, manifest).intact


def test_a_filtered_export_says_it_is_not_contiguous_and_is_checked_against_the_chain(
    auditor, events, tmp_path
):
    path, manifest = export_pair(auditor, tmp_path, action="recording.search")
    assert manifest["contiguous"] is False
    assert manifest["count"] == 1
    assert manifest["filters"] == {"action": "recording.search"}
    assert path.name in str(path)
    result = check_file(path, manifest)
    assert result.intact
    assert "not a contiguous chain" in str(result)
    assert compare_with_database(path, "jsonl") == ""


def test_it_refuses_an_unknown_format_or_bad_filters(auditor, db):
    assert auditor.get(reverse("audit:export"), {"format": "xml"}).status_code == 400
    assert auditor.get(reverse("audit:export"), {"since": "soon"}).status_code == 400
    assert not AccessEvent.objects.filter(action="audit.export").exists()


def test_an_empty_log_exports_an_empty_file_with_a_manifest(db, tmp_path):
    path = tmp_path / "empty.jsonl"
    manifest = write_export(ExportSpec.pinned(Filters(), "jsonl"), path)
    assert path.read_bytes() == b""
    assert (manifest["count"], manifest["first_hash"], manifest["last_hash"]) == (0, None, None)
    assert check_file(path, manifest).intact


# --- a tampered export fails -------------------------------------------------------------


def _tamper_lines(path: Path, change) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))


def _edit_line(lines):
    item = json.loads(lines[5])
    item["object_id"] = "42"
    lines[5] = json.dumps(item, separators=(",", ":")).encode() + b"\n"
    return lines


def _edit_line_and_its_hash(lines):
    item = json.loads(lines[5])
    item["actor"] = "nobody"
    content = {key: item[key] for key in verify_file.CONTENT_FIELDS}
    item["hash"] = verify_file.chain_hash(item["prev_hash"], content)
    lines[5] = json.dumps(item).encode() + b"\n"
    return lines


@pytest.mark.parametrize(
    ("change", "broken_line", "reason"),
    [
        (_edit_line, 6, "was edited"),
        (_edit_line_and_its_hash, 7, "deleted, inserted or reordered"),
        (lambda lines: lines[:5] + lines[6:], 6, "deleted, inserted or reordered"),
        (lambda lines: [*lines[:5], lines[6], lines[5], *lines[7:]], 6, "deleted, inserted"),
        (lambda lines: [*lines[:5], lines[5], *lines[5:]], 7, "deleted, inserted"),
        (lambda lines: lines[:-1], None, "manifest: the file's sha256"),
    ],
    ids=["edited", "edited-with-own-hash", "deleted", "reordered", "duplicated", "truncated"],
)
def test_a_tampered_export_fails_the_file_check(
    auditor, events, tmp_path, change, broken_line, reason
):
    path, manifest = export_pair(auditor, tmp_path)
    _tamper_lines(path, change)
    result = check_file(path, manifest)
    assert not result.intact
    assert reason in str(result)
    assert result.line == broken_line


def test_a_doctored_manifest_fails(auditor, events, tmp_path):
    path, manifest = export_pair(auditor, tmp_path)
    assert not check_file(path, {**manifest, "last_hash": "f" * 64}).intact
    assert not check_file(path, {**manifest, "count": manifest["count"] + 1}).intact


def test_a_tampered_csv_export_fails(auditor, events, tmp_path):
    path, manifest = export_pair(auditor, tmp_path, "csv")
    path.write_bytes(path.read_bytes().replace(b"Zo\xc3\xab", b"Zoe"))
    result = check_file(path, manifest)
    assert not result.intact
    assert "edited" in result.reason


def test_a_forged_line_in_a_filtered_export_is_caught_against_the_database(
    auditor, events, tmp_path
):
    path, _ = export_pair(auditor, tmp_path, actor="sam")
    _tamper_lines(path, _edit_line_and_its_hash)  # consistent on its own: no links to break
    assert check_file(path).intact
    assert "different hash in the database" in compare_with_database(path, "jsonl")


# --- the standalone verifier -------------------------------------------------------------


def test_the_verifier_is_the_definition_of_the_hash():
    assert log.chain_hash is verify_file.chain_hash
    assert log.canonical_json is verify_file.canonical_json
    assert verify_file.GENESIS_HASH == GENESIS_HASH


def test_the_verifier_runs_alone_from_a_copy_with_only_the_standard_library(
    auditor, events, tmp_path
):
    path, _ = export_pair(auditor, tmp_path)
    alone = tmp_path / "verify_file.py"
    shutil.copy(ROOT / "recordings_portal" / "audit" / "verify_file.py", alone)
    # -I: isolated, no site-packages, no project on the path.
    command = [sys.executable, "-I", str(alone), str(path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Intact" in result.stdout
    _tamper_lines(path, _edit_line)
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "Broken at event" in result.stdout


def test_the_verifier_runs_as_a_module(auditor, events, tmp_path):
    path, _ = export_pair(auditor, tmp_path, "csv")
    result = subprocess.run(
        [sys.executable, "-m", "recordings_portal.audit.verify_file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = io.StringIO()
    assert verify_file.main([str(tmp_path / "missing.jsonl")], out=out) == 1
    assert "no file" in out.getvalue()


# --- constant memory ---------------------------------------------------------------------

EXPORT_EVENTS = 50_000
PEAK_LIMIT = 4 * 1024 * 1024


def test_a_large_export_streams_in_constant_memory(auditor, db):
    append_chain(
        EXPORT_EVENTS, details={"q": "a search of some length", "filters": {"state": "available"}}
    )
    # JSON Lines only: CSV streams the same batches through another encoder (and tracing every
    # allocation makes each pass slow).
    response = auditor.get(reverse("audit:export"), {"format": "jsonl"})
    assert isinstance(response, StreamingHttpResponse)
    size, lines = 0, 0
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == EXPORT_EVENTS + 1  # and the auditor's sign-in
    assert size > 3 * PEAK_LIMIT  # the file is far bigger than what was ever held
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB export"
