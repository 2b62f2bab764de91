"""Kaleyra (shared/vendor-apis/kaleyra.txt): the Call Recording Extraction API.

Kaleyra has no listing: recording ids come from the call report a customer exports from the
Kaleyra web app, which is imported (parse_import). The audio is fetched by asking for a signed
S3 link for an id (`POST /v1/<SID>/voice/recordings`, download=0) and then getting the link.

Document quirks handled:
- "GET Method" in the heading, `-X POST` in the curl: POST, the method that carries the form;
- the curl puts `id` in the query string and in the form body: both are sent, so a server
  reading either finds it;
- the curl's path has a stray `{}` (`/v1/{}SID/...`): not copied; the base URL may be the API
  host, or already end in `/v1` or `/v1/<SID>`;
- ids are base64 (`1xxxxx8axxxxgiu587==`) and contain `+`, `/` and `=`: they are always sent
  URL-encoded (a raw `+` in a form body would arrive as a space, and earn "Invalid Id");
- the "Invalid Id" and "Id Expired" bodies are not valid JSON (`"data": [ "id" : ... ]`) and no
  status code is documented for them: they are recognised from the text, whatever the status;
- validity is in minutes (not seconds): links are asked for LINK_VALIDITY_MINUTES;
- the report's times are in the account's time zone without an offset (config `timezone`).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import (
    AuthFailed,
    Connector,
    ConnectorError,
    Gone,
    ImportInvalid,
    ImportLine,
    ParsedImport,
    RecordingRef,
    RemoteRecording,
)
from .import_files import Table, field_of, read_table

# Long enough to start the download after a queue or a retry; S3 checks it only at the start.
LINK_VALIDITY_MINUTES = 15
RETENTION_NOTE = "recordings are kept 6 months"
# Never a real recording id: extracting it proves the key and SID without touching a recording.
CHECK_ID = "recordings-portal-connection-check"

FAILURE = re.compile(r"\b(invalid id|id expired)\b", re.IGNORECASE)

# Report columns, by the names the web app and spreadsheets give them.
ID_COLUMNS = ("ID", "Recording ID", "Recording Id", "RecordingId", "Recording")
CALL_ID_COLUMNS = ("Call ID", "Call Id", "CallId", "Call UUID")
FROM_COLUMNS = ("From", "Caller", "Caller ID", "Source")
TO_COLUMNS = ("To", "Callee", "Destination", "Called")
START_COLUMNS = ("Start Time", "Start", "Call Time", "Date", "Started At")
DURATION_COLUMNS = ("Duration", "Duration (s)", "Call Duration", "Billsec")
DIRECTION_COLUMNS = ("Direction", "Type", "Call Type")
STATUS_COLUMNS = ("Status", "Call Status")
DIRECTIONS = {
    "inbound": "inbound",
    "incoming": "inbound",
    "outbound": "outbound",
    "outgoing": "outbound",
}

# What the web app writes, and what a spreadsheet writes back after re-saving it.
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)


class KaleyraConnector(Connector):
    label = "Kaleyra"

    def __init__(self, account, client):
        super().__init__(account, client)
        self.sid = self.config.get("sid", "").strip()
        sid_path = "/v1/" + quote(self.sid, safe="")
        if self.base_url.endswith(sid_path):
            self.api_url = self.base_url
        elif self.base_url.endswith("/v1"):
            self.api_url = self.base_url + sid_path[3:]
        else:
            self.api_url = self.base_url + sid_path

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.secrets.get("api_key", "")}

    def raise_for_status(self, response) -> None:
        failure = extraction_failure(response.text)
        if failure:
            raise failure
        status, detail = response.status_code, self.error_detail(response)
        if status == 404:
            # The API answers 404 for an SID it does not know: every recording would fail the
            # same way, so the account is flagged for its admin rather than the rows failed.
            raise AuthFailed(
                f"Kaleyra does not know the account SID {self.sid!r} (404 {detail}). "
                "Check the SID and the base URL."
            )
        if status == 400:
            raise ConnectorError(f"Kaleyra refused the request: {detail}", permanent=True)
        super().raise_for_status(response)

    @staticmethod
    def error_detail(response) -> str:
        try:
            body = response.json()
        except ValueError:
            return Connector.error_detail(response)
        # {"code", "message", "data", "error": {"field": "what is wrong"}}
        if isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"]:
            return "; ".join(str(value) for value in body["error"].values())[:200]
        return Connector.error_detail(response)

    # --- extraction ----------------------------------------------------------------------------

    def _link(self, recording_id: str) -> str:
        response = self.send(
            "POST",
            f"{self.api_url}/voice/recordings",
            params={"id": recording_id},
            data={"id": recording_id, "validity": LINK_VALIDITY_MINUTES, "download": 0},
        )
        try:
            link = response.json()["data"]["link"]
        except (ValueError, KeyError, TypeError):
            link = None
        if isinstance(link, str) and link.startswith(("https://", "http://")):
            return link
        # Nothing documented says the failures come with an error status.
        failure = extraction_failure(response.text)
        if failure:
            raise failure
        raise ConnectorError(f"Kaleyra's answer had no recording link: {response.text[:200]!r}")

    @contextmanager
    def media(self, ref: RecordingRef):
        with self.stream_signed_link(lambda: self._link(ref.external_id)) as media:
            yield media

    def check(self) -> str:
        try:
            self._link(CHECK_ID)
        except Gone:
            # "Invalid Id" comes only past the api-key and SID checks.
            return f"Kaleyra accepted the API key for account {self.sid}."
        raise ConnectorError("Kaleyra answered a made-up recording id with a link.")

    # --- the report ----------------------------------------------------------------------------

    def parse_import(self, data: bytes, filename: str = "") -> ParsedImport:
        zone = self._zone()
        table = read_table(data)
        columns = self._columns(table)
        if not table.rows:
            raise ImportInvalid("The report has a header but no rows.")
        recordings, skipped, problems = [], [], []
        for line, row in table.rows:
            values = {name: field_of(row, index) for name, index in columns.items()}
            if not values["id"]:
                status = values["status"] or "no recording"
                skipped.append(ImportLine(line, f"No recording id ({status})."))
                continue
            try:
                recordings.append(report_recording(values, zone))
            except ValueError as exc:
                problems.append(ImportLine(line, str(exc)))
        return ParsedImport(recordings, skipped, problems)

    def _zone(self) -> ZoneInfo:
        name = (self.config.get("timezone") or "UTC").strip()
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportInvalid(
                f"The account's time zone {name!r} is not a time zone name such as "
                "'Asia/Kolkata': correct it in the account settings."
            ) from exc

    @staticmethod
    def _columns(table: Table) -> dict[str, int | None]:
        columns = {
            "id": table.column(*ID_COLUMNS),
            "call_id": table.column(*CALL_ID_COLUMNS),
            "from": table.column(*FROM_COLUMNS),
            "to": table.column(*TO_COLUMNS),
            "start": table.column(*START_COLUMNS),
            "duration": table.column(*DURATION_COLUMNS),
            "direction": table.column(*DIRECTION_COLUMNS),
            "status": table.column(*STATUS_COLUMNS),
        }
        missing = [
            label
            for name, label in (("id", "ID"), ("start", "Start Time"))
            if columns[name] is None
        ]
        if missing:
            raise ImportInvalid(
                f"This is not a Kaleyra call report: it has no {' or '.join(missing)} column "
                f"(its columns are {table.columns_text()})."
            )
        return columns


def extraction_failure(text: str) -> Gone | None:
    """The documented failure bodies, read from the text: they are not valid JSON."""
    found = FAILURE.search(text[:2000])
    if not found:
        return None
    if found.group(1).lower() == "id expired":
        return Gone(f"Kaleyra no longer has this recording (Id Expired: {RETENTION_NOTE}).")
    return Gone(
        "Kaleyra does not know this recording id (Invalid Id): it may have been altered when "
        "the report was edited, or belong to another account."
    )


def report_recording(values: dict[str, str], zone: ZoneInfo) -> RemoteRecording:
    """One answered call of the report; ValueError says what is wrong with the row."""
    recording_id = values["id"]
    if any(character.isspace() for character in recording_id):
        # Ids are base64: a space is a `+` some tool URL-decoded on the way.
        raise ValueError(
            f"The recording id {recording_id!r} contains a space; Kaleyra ids contain '+' "
            "where a space is. Export the report again and import it unedited."
        )
    direction = DIRECTIONS.get(values["direction"].lower(), "unknown")
    return RemoteRecording(
        external_id=recording_id,
        vendor_call_id=values["call_id"],
        started_at=report_time(values["start"], zone),
        duration=report_duration(values["duration"]),
        direction=direction,
        caller=values["from"],
        callee=values["to"],
        participants=tuple(p for p in (values["from"], values["to"]) if p),
        vendor_state=values["status"],
    )


def report_time(value: str, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
        for pattern in TIME_FORMATS:
            try:
                moment = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
    if moment is None:
        raise ValueError(
            f"Start Time {value!r} is not a date and time (expected YYYY-MM-DD HH:MM:SS)."
        )
    # The web app prints local time without an offset; an offset, if a tool added one, wins.
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def report_duration(value: str) -> float | None:
    """Seconds, or H:MM:SS / MM:SS as spreadsheets reformat them."""
    if not value:
        return None
    try:
        if ":" in value:
            seconds = 0.0
            for part in value.split(":"):
                seconds = seconds * 60 + float(part)
            return seconds
        return float(value)
    except ValueError:
        raise ValueError(f"Duration {value!r} is not a number of seconds.") from None
