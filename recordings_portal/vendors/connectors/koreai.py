"""Kore.ai SmartAssist (shared/vendor-apis/koreai-smartassist.txt): Fetch Call Recording (v2).

Sessions are discovered through the callDetails listing (or imported as a file of session ids);
the audio is fetched by asking `GET .../v2/recordings?sessionId=` for a signed fileUrl, then
getting the fileUrl; `DELETE` on the same URL deletes the vendor's copy.

Document quirks handled:
- `https://{{host}}/...` while "host" is given as `https://platform.kore.ai`: the base URL is
  the environment URL with its scheme, and paths are appended to it;
- userId is listed as required but the sample request omits it: sent when the listing named
  the session's user, left out for sessions known only by id (an imported list);
- "Content-Type: application/json" on a GET without a body: sent, as the sample does;
- the statuses come in the body of a 200 answer (success, media_unavailable,
  call_in_progress, media_in_progress), not as HTTP statuses.

The JWT (HS256, signed with the app's client secret, claim appId = the client id, in the `auth`
header) and callDetails are not in the document; they follow Kore.ai's public API conventions as
the simulator serves them. callDetails takes windows of at most 7 days and pages of at most 100
rows with an offset of at most 10 *pages*: a window holding more than 1,100 sessions cannot be
paged through, so such a window is split in halves until it can.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import jwt

from .base import (
    AuthFailed,
    CatalogPage,
    Connector,
    ConnectorError,
    Gone,
    ImportInvalid,
    ImportLine,
    NotReady,
    ParsedImport,
    RecordingRef,
    RemoteRecording,
)
from .fields import parse_time
from .import_files import field_of, read_table

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 300  # seconds; a token is minted per request, so short is free
PAGE_LIMIT = 100
MAX_OFFSET = 10  # in pages of PAGE_LIMIT rows
MAX_WINDOW = timedelta(days=7)
MIN_WINDOW = timedelta(seconds=1)
FIRST_SYNC = timedelta(days=30)
# Analytics listings can show a session a little after it happened: each sync re-reads the last
# hour of the one before.
OVERLAP = timedelta(hours=1)
# A session still "in progress" holds the next sync's start back so it is seen again when it
# ends; one open longer than this is stuck, not a call, and holds nothing back.
LONGEST_CALL = timedelta(hours=12)

# Seconds to wait before asking again.
CALL_RETRY = 300  # a call still on the line
MEDIA_RETRY = 60  # media being generated after the call

RECORDING_STATUSES = ("media_unavailable", "call_in_progress", "media_in_progress")
SESSION_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class KoreaiConnector(Connector):
    label = "Kore.ai"

    def __init__(self, account, client):
        super().__init__(account, client)
        bot_id = quote(self.config.get("bot_id", ""), safe="")
        account_id = quote(self.config.get("account_id", ""), safe="")
        self.recordings_url = self.url(f"/api/public/bot/{bot_id}/v2/recordings")
        self.call_details_url = self.url(
            f"/agentassist/api/public/analytics/account/{account_id}/v2/callDetails"
        )

    def auth_headers(self) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "appId": self.config.get("client_id", ""),
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self.secrets.get("client_secret", ""), algorithm="HS256")
        return {"auth": token, "Content-Type": "application/json"}

    @staticmethod
    def error_detail(response) -> str:
        try:
            body = response.json()
        except ValueError:
            return Connector.error_detail(response)
        # {"errors": [{"msg": ..., "code": ...}]}
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("msg", ""))[:200]
        return Connector.error_detail(response)

    def raise_for_status(self, response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") in RECORDING_STATUSES:
            # A recording status sent with an error code (DELETE: 404 gone, 409 in progress).
            raise status_error(body["status"])
        status, detail = response.status_code, self.error_detail(response)
        if status == 404:
            # An unknown bot or account: every session would fail alike, so the account is
            # flagged for its admin instead of each recording being failed.
            raise AuthFailed(f"Kore.ai: {detail or 'not found'}. Check the Bot ID and Account ID.")
        if status == 400:
            raise ConnectorError(f"Kore.ai refused the request: {detail}", permanent=True)
        super().raise_for_status(response)

    def check(self) -> str:
        now = datetime.now(UTC)
        listing = self._call_details(now - MAX_WINDOW, now, 0, limit=1)
        # media_unavailable for a made-up session: the bot exists and took the token.
        with suppress(Gone):
            self._file_url(RecordingRef(external_id="recordings-portal-connection-check"))
        total = listing.get("total")
        sessions = f"; {total} sessions in the last 7 days" if isinstance(total, int) else ""
        return f"Kore.ai accepted the app credentials{sessions}."

    # --- recordings ----------------------------------------------------------------------------

    @staticmethod
    def _session_params(ref: RecordingRef) -> dict[str, str]:
        params = {"sessionId": ref.external_id}
        user_id = (ref.metadata or {}).get("userId")
        if user_id:
            params["userId"] = user_id
        return params

    def _file_url(self, ref: RecordingRef) -> str:
        response = self.send("GET", self.recordings_url, params=self._session_params(ref))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorError(f"Kore.ai's answer was not a JSON object: {response.text[:200]!r}")
        status = body.get("status")
        if status != "success":
            raise status_error(status)
        files = [
            entry
            for entry in body.get("recording") or []
            if isinstance(entry, dict) and isinstance(entry.get("fileUrl"), str)
        ]
        if not files:
            raise ConnectorError("Kore.ai answered success without a fileUrl.")
        # The document's file is "<session>-merged.wav": both legs; prefer it over single legs.
        merged = [f for f in files if str(f.get("fileName", "")).endswith("-merged.wav")]
        return (merged or files)[0]["fileUrl"]

    @contextmanager
    def media(self, ref: RecordingRef):
        with self.stream_signed_link(lambda: self._file_url(ref), fmt="wav") as media:
            yield media

    def delete(self, ref: RecordingRef) -> str:
        session = ref.external_id
        try:
            response = self.send("DELETE", self.recordings_url, params=self._session_params(ref))
        except Gone:
            return f"Kore.ai had no recording left for session {session} (media_unavailable)."
        try:
            body = response.json()
        except ValueError:
            body = {}
        status = body.get("status", "deleted") if isinstance(body, dict) else "deleted"
        if status == "media_unavailable":
            return f"Kore.ai had no recording left for session {session} (media_unavailable)."
        return f"Kore.ai deleted the recordings of session {session} ({status})."

    # --- discovery -----------------------------------------------------------------------------

    def _call_details(self, start, end, offset: int, *, limit: int = PAGE_LIMIT) -> dict:
        payload = {"startDate": iso(start), "endDate": iso(end), "limit": limit, "offset": offset}
        body = self.send("POST", self.call_details_url, json=payload).json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ConnectorError("Kore.ai's callDetails answer did not have the expected shape.")
        return body

    def discover(self, cursor: dict) -> CatalogPage:
        """One page of sessions; the cursor is the window being read and the page within it."""
        if "until" not in cursor:
            cursor = self._first_cursor(cursor)
        start, end = parse_time(cursor["start"]), parse_time(cursor["end"])
        until, offset = parse_time(cursor["until"]), int(cursor.get("offset", 0))
        body = self._call_details(start, end, offset)
        reach = (MAX_OFFSET + 1) * PAGE_LIMIT
        while offset == 0 and _total(body) > reach and end - start > MIN_WINDOW:
            end = start + (end - start) / 2
            body = self._call_details(start, end, 0)
        recordings = [remote for row in body["data"] if (remote := session_recording(row))]
        pending = earliest_pending(recordings, until, cursor.get("pending"))
        following = {"until": iso(until)} | ({"pending": iso(pending)} if pending else {})
        if body.get("hasMore") and offset < MAX_OFFSET:
            following |= {"start": iso(start), "end": iso(end), "offset": offset + 1}
        elif body.get("hasMore") and end - start > MIN_WINDOW:
            # The window filled up while it was being read: read its first half again, the
            # second half follows as the next window.
            middle = start + (end - start) / 2
            following |= {"start": iso(start), "end": iso(middle), "offset": 0}
        else:
            if body.get("hasMore"):
                log.warning(
                    "Kore.ai: more than %s sessions at %s; the rest are skipped", reach, start
                )
            if end >= until:
                since = min(until - OVERLAP, pending) if pending else until - OVERLAP
                return CatalogPage(recordings, None, watermark={"since": iso(since)})
            following |= {"start": iso(end), "end": iso(min(end + MAX_WINDOW, until)), "offset": 0}
        return CatalogPage(recordings, following)

    @staticmethod
    def _first_cursor(cursor: dict) -> dict:
        """A new sync: from the watermark (or FIRST_SYNC back) to now, one window at a time."""
        now = datetime.now(UTC)
        start = parse_time(cursor.get("since")) or now - FIRST_SYNC
        start = min(start, now - MIN_WINDOW)
        return {
            "start": iso(start),
            "end": iso(min(start + MAX_WINDOW, now)),
            "until": iso(now),
            "offset": 0,
        }

    # --- import --------------------------------------------------------------------------------

    def parse_import(self, data: bytes, filename: str = "") -> ParsedImport:
        """Session ids: one per line, or a CSV with a sessionId column (and optionally userId)."""
        table = read_table(data)
        column = table.column("sessionId", "session", "conversationId")
        user_column = table.column("userId", "user")
        rows = table.rows
        if column is None:
            if len(table.header) > 1 or any(len(row) > 1 for _, row in rows):
                raise ImportInvalid(
                    "The file has no sessionId column (its columns are "
                    f"{table.columns_text()}): give one session id per line, or a CSV with a "
                    "sessionId column."
                )
            # A plain list: the first line is an id, not a header.
            column, user_column, rows = 0, None, [(table.header_line, table.header), *rows]
        if not rows:
            raise ImportInvalid("The file has a sessionId column but no session ids.")
        recordings, skipped, problems = [], [], []
        for line, row in rows:
            session = field_of(row, column)
            if not session:
                skipped.append(ImportLine(line, "No session id."))
            elif not SESSION_ID.match(session):
                problems.append(ImportLine(line, f"{session[:60]!r} is not a Kore.ai session id."))
            else:
                user_id = field_of(row, user_column)
                recordings.append(
                    RemoteRecording(
                        external_id=session,
                        vendor_call_id=session,
                        format="wav",
                        metadata={"userId": user_id} if user_id else {},
                    )
                )
        return ParsedImport(recordings, skipped, problems)


def _total(body: dict) -> int:
    total = body.get("total")
    return total if isinstance(total, int) else 0


def status_error(status) -> ConnectorError:
    if status == "media_in_progress":
        return NotReady(
            "Kore.ai is still preparing this call's recording (media_in_progress).",
            retry_after=MEDIA_RETRY,
        )
    if status == "call_in_progress":
        return NotReady("The call is still in progress (call_in_progress).", retry_after=CALL_RETRY)
    if status == "media_unavailable":
        return Gone(
            "Kore.ai has no recording for this session (media_unavailable): the call was not "
            "recorded, or its recording was deleted."
        )
    return ConnectorError(f"Kore.ai answered an unknown recording status {status!r}.")


def session_recording(row) -> RemoteRecording | None:
    if not isinstance(row, dict) or not row.get("sessionId"):
        return None
    session = str(row["sessionId"])
    ended = row.get("endTime") is not None
    caller, callee = str(row.get("caller") or ""), str(row.get("callee") or "")
    duration = row.get("duration")
    return RemoteRecording(
        external_id=session,
        vendor_call_id=session,
        started_at=parse_time(row.get("startTime")),
        duration=float(duration) if isinstance(duration, int | float) and ended else None,
        direction=str(row.get("direction") or "unknown").lower(),
        caller=caller,
        callee=callee,
        participants=tuple(p for p in (caller, callee) if p),
        format="wav",
        vendor_state="ended" if ended else "in_progress",
        # A session still on the line has nothing to download yet; a later sync sees it end.
        ready=ended,
        metadata={"userId": str(row["userId"])} if row.get("userId") else {},
    )


def earliest_pending(recordings, until: datetime, carried) -> datetime | None:
    """The earliest start of a session still in progress, for the next sync to begin at."""
    starts = [parse_time(carried)] if carried else []
    starts += [
        remote.started_at
        for remote in recordings
        if not remote.ready and remote.started_at and until - remote.started_at < LONGEST_CALL
    ]
    starts = [moment for moment in starts if moment]
    return min(starts) if starts else None
