import io
import json
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from recordings_portal.audit.models import AccessEvent
from recordings_portal.audit.verify_file import verify_file

from .conftest import append_chain, raw


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def chain(db, make_user):
    sam = make_user("sam", "supervisor")
    append_chain(30, actor=sam)
    append_chain(5, action="recording.download", object_type="catalog.recording")
    return AccessEvent.objects.order_by("id")


def test_it_exports_a_file_and_its_manifest(chain, tmp_path):
    expected = list(chain)
    target = tmp_path / "log.jsonl"
    out = run("export_access_log", "-o", str(target))
    manifest = json.loads((tmp_path / "log.jsonl.manifest.json").read_text())
    assert manifest["count"] == len(expected) == len(target.read_bytes().splitlines())
    assert manifest["last_hash"] == expected[-1].hash
    assert manifest["file"] == "log.jsonl"
    assert manifest["contiguous"] is True
    assert f"Wrote {len(expected)} events" in out
    assert manifest["sha256"] in out
    assert verify_file(target, manifest).intact
    event = AccessEvent.objects.get(action="audit.export")
    assert event.actor is None
    assert event.details["via"] == "export_access_log"
    assert event.details["count"] == len(expected)


def test_it_exports_filtered_csv(chain, tmp_path):
    target = tmp_path / "downloads.csv"
    run(
        "export_access_log", "--format", "csv", "--action", "recording.download",
        "--since", "2000-01-01", "-o", str(target),
    )  # fmt: skip
    manifest = json.loads((tmp_path / "downloads.csv.manifest.json").read_text())
    assert manifest["count"] == 5
    assert manifest["contiguous"] is False
    assert manifest["filters"]["action"] == "recording.download"
    assert manifest["filters"]["since"].startswith("2000-01-01T00:00:00")
    assert verify_file(target, manifest).intact


def test_it_refuses_bad_filters(chain, tmp_path):
    with pytest.raises(CommandError, match="Check the filters"):
        run("export_access_log", "--since", "last tuesday", "-o", str(tmp_path / "x.jsonl"))
    with pytest.raises(CommandError, match="No folder"):
        run("export_access_log", "-o", str(tmp_path / "nowhere" / "x.jsonl"))


def test_the_command_line_export_streams(db, tmp_path):
    append_chain(20_000)
    tracemalloc.start()
    try:
        run("export_access_log", "-o", str(tmp_path / "big.jsonl"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = 4 * 1024 * 1024
    assert (tmp_path / "big.jsonl").stat().st_size > 1.5 * limit
    assert peak < limit


def test_it_verifies_the_database(chain):
    count, last = chain.count(), chain.last()
    out = run("verify_access_log")
    assert f"Intact: {count} events, through event #{last.id}." in out
    event = AccessEvent.objects.get(action="audit.verify")
    assert event.details["intact"] is True


def test_it_fails_naming_the_broken_event(chain):
    target = chain[7]
    raw("UPDATE audit_accessevent SET actor_username = 'x' WHERE id = %s", [target.id])
    with pytest.raises(CommandError, match=f"Broken at event #{target.id}") as caught:
        run("verify_access_log")
    assert caught.value.returncode == 1
    assert AccessEvent.objects.get(action="audit.verify").outcome == "failure"


def test_it_verifies_an_exported_file(chain, tmp_path):
    target = tmp_path / "log.jsonl"
    run("export_access_log", "-o", str(target))
    assert "Intact" in run("verify_access_log", "--file", str(target))
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:3] + lines[4:]))
    with pytest.raises(CommandError, match=f"Broken at event #{chain[4].id} \\(line 4\\)"):
        run("verify_access_log", "--file", str(target))


def test_it_checks_a_filtered_export_against_the_database(chain, tmp_path):
    target = tmp_path / "downloads.jsonl"
    last_download = chain.filter(action="recording.download").last()
    run("export_access_log", "--action", "recording.download", "-o", str(target))
    out = run("verify_access_log", "--file", str(target), "--against-database")
    assert "not a contiguous chain" in out
    assert "Every line's hash is the one stored for its event" in out
    raw("DELETE FROM audit_accessevent WHERE id = %s", [last_download.id])
    with pytest.raises(CommandError, match="is not in the database"):
        run("verify_access_log", "--file", str(target), "--against-database")


def test_it_explains_a_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="No file"):
        run("verify_access_log", "--file", str(tmp_path / "absent.jsonl"))
    with pytest.raises(CommandError, match="go with --file"):
        run("verify_access_log", "--against-database")
