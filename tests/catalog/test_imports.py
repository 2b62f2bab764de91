"""Importing a customer's file: what is counted, what is refused; a refusal changes nothing."""

import codecs

import httpx
import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from recordings_portal.catalog.models import Recording, RecordingState
from recordings_portal.catalog.services import imports
from recordings_portal.catalog.services.imports import ImportFailed, recordings_import
from recordings_portal.celery import app
from recordings_portal.simulators.kaleyra import API_KEY, SID

HEADER = '"ID","Call ID","From","To","Start Time","Duration","Direction","Status"\r\n'


@pytest.fixture
def kaleyra(vendor_account):
    return vendor_account("kaleyra")


@pytest.fixture
def report(simulators) -> bytes:
    response = httpx.get(
        f"{simulators.url}/kaleyra/v1/{SID}/voice/recordings/report.csv",
        headers={"api-key": API_KEY},
    )
    response.raise_for_status()
    return response.content


def row(rec_id="", start="2024-05-03 10:00:00", status="Answered"):
    values = [rec_id, "c-1", "+14155550100", "+14155552001", start, "61", "Inbound", status]
    return ",".join(f'"{value}"' for value in values) + "\r\n"


def assert_nothing_changed():
    assert not Recording.objects.exists()


def test_it_counts_new_updated_unchanged_and_skipped_rows(kaleyra, report, simulators):
    answered = len(simulators.vendors["kaleyra"].by_id)
    first = recordings_import(kaleyra, report)
    assert (first.new, first.updated, first.unchanged) == (answered, 0, 0)
    assert first.problems == []
    assert sorted(line.line for line in first.skipped) == [
        number
        for number, text in enumerate(report.decode().splitlines(), start=1)
        if text.startswith('"",')
    ]

    again = recordings_import(kaleyra, report)
    assert (again.new, again.updated, again.unchanged) == (0, 0, answered)

    edited = report.replace(b',"Inbound"', b',"Outbound"', 1)
    changed = recordings_import(kaleyra, edited)
    assert (changed.new, changed.updated) == (0, 1)


def test_it_queues_the_new_recordings_downloads_once_committed(
    kaleyra, report, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        result = recordings_import(kaleyra, report)
    assert len(callbacks) == 1
    assert sorted(result.download_ids) == sorted(Recording.objects.values_list("id", flat=True))

    # Committed, the callback hands each id to the download task (run in-process here).
    app.conf.task_always_eager = True
    try:
        callbacks[0]()
    finally:
        app.conf.task_always_eager = False
    states = set(Recording.objects.values_list("state", flat=True))
    assert states == {RecordingState.AVAILABLE, RecordingState.FAILED}  # 6-month retention
    assert not Recording.objects.filter(state=RecordingState.DISCOVERED).exists()


def test_it_queues_nothing_for_recordings_already_downloaded(kaleyra, report):
    recordings_import(kaleyra, report)
    Recording.objects.update(state=RecordingState.AVAILABLE)
    assert recordings_import(kaleyra, report).download_ids == []


def test_it_reads_a_bom_crlf_quoted_fields_and_semicolons(kaleyra):
    data = codecs.BOM_UTF8 + (
        b"Id;Call Id;From;To;Start Time;Duration;Direction;Status\r\n"
        b'ab+c/d==;"call; one";"+1 415 555 0100, ext 2";+14155552001;2024-05-03 10:00:00;'
        b"00:01:01;Outbound;Answered\r\n"
    )

    result = recordings_import(kaleyra, data, "report.csv")

    assert result.new == 1
    recording = Recording.objects.get()
    assert recording.external_id == "ab+c/d=="
    assert recording.vendor_call_id == "call; one"
    assert recording.caller == "+1 415 555 0100, ext 2"
    assert recording.duration == 61
    assert recording.direction == "outbound"
    # Asia/Kolkata, as the simulator's account is configured: 10:00 there is 04:30 UTC.
    assert recording.started_at.isoformat() == "2024-05-03T04:30:00+00:00"


def test_it_reads_a_report_a_spreadsheet_saved_as_unicode_text(kaleyra):
    # Excel's "Unicode Text": UTF-16 with a byte order mark, tab-separated.
    text = "ID\tStart Time\tStatus\r\nAAAA+/==\t2024-05-03 10:00:00\tAnswered\r\n"
    assert recordings_import(kaleyra, text.encode("utf-16")).new == 1
    assert Recording.objects.get().external_id == "AAAA+/=="


def test_it_reports_unreadable_rows_by_line_and_imports_the_others(kaleyra):
    data = (
        HEADER
        + row("AAAA1111==")
        + '"BBBB2222==","c-2","+1415 555\r\n0199","+14155552001","2024-05-03 10:05:00","5",'
        '"Inbound","Answered"\r\n'  # a quoted line break: this row takes lines 3 and 4
         + row("CCCC3333==", start="yesterday") + row("", status="No Answer") + row("DDDD 4444==")
    ).encode()

    result = recordings_import(kaleyra, data)

    assert result.new == 2
    assert [(p.line, p.message.split(" ")[0]) for p in result.problems] == [
        (5, "Start"),
        (7, "The"),
    ]
    assert "yesterday" in result.problems[0].message
    assert "space" in result.problems[1].message
    assert [(s.line, s.message) for s in result.skipped] == [(6, "No recording id (No Answer).")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n  \r\n", "empty"),
        (HEADER.encode(), "no rows"),
        (b"Caller,Callee\r\n+1415,+1212\r\n", "no ID or Start Time column"),
        ((HEADER + row("AAAA==")).encode("utf-16-le"), "NUL bytes"),
        ("ID,Start Time\r\nAAAA==,03/05/2024 10:00\r\n".encode("cp1252") + b"\xe9", "not UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "save it as CSV"),
        ((HEADER + row("AAAA==", start="soon")).encode(), "None of the file's rows"),
    ],
)
def test_it_refuses_an_unusable_file_and_changes_nothing(kaleyra, data, message):
    with pytest.raises(ImportFailed, match=message):
        recordings_import(kaleyra, data)
    assert_nothing_changed()


def test_it_refuses_a_file_over_the_size_limit(kaleyra, report):
    with pytest.raises(ImportFailed, match="files up to 20 MB"):
        recordings_import(kaleyra, report + b" " * imports.MAX_BYTES)
    assert_nothing_changed()


def test_it_names_the_problem_lines_when_no_row_can_be_read(kaleyra):
    data = (HEADER + row("AAAA==", start="soon") + row("BB BB==")).encode()
    with pytest.raises(ImportFailed) as failed:
        recordings_import(kaleyra, data)
    assert [problem.line for problem in failed.value.problems] == [2, 3]
    assert_nothing_changed()


def test_it_refuses_imports_for_vendors_that_have_none(vendor_account):
    flyflow = vendor_account("flyflow")
    with pytest.raises(ImportFailed, match="Flyflow accounts do not import files"):
        recordings_import(flyflow, HEADER.encode() + row("AAAA==").encode())


def test_it_tells_a_kore_ai_user_which_column_is_missing(vendor_account):
    koreai = vendor_account("koreai")
    with pytest.raises(ImportFailed, match="no sessionId column"):
        recordings_import(koreai, b"call,agent\r\nabc,def\r\n")
    assert_nothing_changed()


def test_it_refuses_a_time_zone_that_does_not_exist(vendor_account, report):
    config = {"sid": SID, "timezone": "India/Bangalore"}
    account = vendor_account("kaleyra", config=config)
    with pytest.raises(ImportFailed, match="time zone 'India/Bangalore'"):
        recordings_import(account, report)
    assert_nothing_changed()


# --- the command ---------------------------------------------------------------------------


def test_the_command_imports_a_file_and_prints_the_counts(kaleyra, report, tmp_path, capsys):
    path = tmp_path / "report.csv"
    path.write_bytes(report)

    call_command("import_recordings", kaleyra.name, str(path))

    out = capsys.readouterr().out
    answered = Recording.objects.count()
    assert f"Imported report.csv into {kaleyra.name}: {answered} new" in out


def test_the_command_fails_with_the_problems_and_changes_nothing(kaleyra, tmp_path, capsys):
    path = tmp_path / "report.csv"
    path.write_bytes((HEADER + row("AAAA==", start="soon")).encode())

    with pytest.raises(CommandError, match="Nothing was imported: None of the file's rows"):
        call_command("import_recordings", kaleyra.name, str(path))

    assert "line 2: Start Time 'soon'" in capsys.readouterr().err
    assert_nothing_changed()


def test_the_command_names_the_accounts_when_the_name_is_wrong(kaleyra, tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match=f"accounts: {kaleyra.name}"):
        call_command("import_recordings", "Nope", str(path))


def test_the_command_exits_non_zero_on_failure(kaleyra, tmp_path, capsys):
    path = tmp_path / "missing.csv"
    command = load_command_class("recordings_portal.catalog", "import_recordings")
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "import_recordings", kaleyra.name, str(path)])
    assert exited.value.code == 1
    assert "Cannot read" in capsys.readouterr().err
