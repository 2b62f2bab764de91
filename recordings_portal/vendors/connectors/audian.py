"""Audian (shared/vendor-apis/audian.txt): recordings under /v2, signed webhooks, 30-day retention.

Choices where the document allows more than one reading:
- Auth: `X-Auth-Token`, the header of every curl example and endpoint section. Only the Node and
  Python samples use `Authorization: Bearer`; one header, always the same, means a 401 says the
  key is wrong, never that we guessed the header wrong.
- The base URL may be given as the document writes it (https://api.audian.com:8443/v2, port
  included) or without `/v2`: `/v2` is added when missing.
- created_at is when the recording stopped (the samples' created_at equals stopped_at), so the
  call began at created_at - duration (10:35:10 - 305 s = 10:30:05, the sample's started_at).
- The listing rows carry no format or channels: the download's probe fills them in.
- The webhook's checksum sample ("abcdef0123456789") is not a SHA-256: a checksum is kept only
  when it is one (64 hex digits), so a placeholder never fails every download.
- The webhook's download_url is not followed: the download URL is built from the account's base
  URL, so a webhook body cannot steer where the portal sends its API key.
- Webhook signing is not in the document (our reading, as the simulator does it):
  X-Audian-Signature = hex HMAC-SHA256(webhook secret, timestamp + "." + raw body),
  X-Audian-Timestamp in epoch seconds, X-Audian-Delivery-ID the same on every retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx

from .base import (
    CatalogPage,
    Connector,
    ConnectorError,
    Gone,
    InvalidEvent,
    NotReady,
    RecordingRef,
    RemoteRecording,
    VendorEvent,
    parse_retry_after,
)
from .fields import parse_time

PAGE_SIZE = 1000  # the document names no maximum; a smaller cap shows in pagination.limit
# Rows each page repeats from the end of the previous one: finding one of them again proves no
# row slipped between the pages (see discover()).
PAGE_OVERLAP = 5
# The next sync lists again from this long before the newest recording seen: a recording that
# shows up in the listing late, with an older created_at, is still found.
SINCE_OVERLAP = timedelta(minutes=30)
# Audian signs each delivery with its own clock: a delivery further off is refused as a replay.
SIGNATURE_TOLERANCE = 5 * 60
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ID = 255  # what the catalog keeps of an id
UNVERIFIABLE = (
    "This Audian account has no webhook signing secret, so the portal cannot tell Audian's "
    "webhooks from forged ones and refuses them. An admin must set 'Webhook signing secret' "
    "on the account (the secret Audian shows for the webhook)."
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class AudianConnector(Connector):
    label = "Audian"
    page_size = PAGE_SIZE
    page_overlap = PAGE_OVERLAP

    def __init__(self, account, client):
        super().__init__(account, client)
        if not self.base_url.endswith("/v2"):
            self.base_url += "/v2"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.secrets["api_key"]}

    def raise_for_status(self, response: httpx.Response) -> None:
        status, detail = response.status_code, self.error_detail(response)
        code = self._error_code(response)
        if status == 409 and code in ("not_ready", "invalid_state"):
            retry = parse_retry_after(response.headers.get("Retry-After"), default=60)
            raise NotReady(f"Audian: {detail}", retry_after=retry)
        if status == 409 and code == "recording_failed":
            raise Gone(f"Audian says the recording failed and has no file: {detail}")
        if status == 400:
            raise ConnectorError(f"Audian refused the request: {detail}", permanent=True)
        super().raise_for_status(response)

    @staticmethod
    def _error_code(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        return body.get("error", "") if isinstance(body, dict) else ""

    def _json(self, response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorError(f"Audian answered {response.url.path} with something not JSON.")
        return body

    def _recording_url(self, external_id: str, suffix: str = "") -> str:
        return self.url(f"/recordings/{quote(external_id, safe='')}{suffix}")

    # --- test connection ---------------------------------------------------------------------

    def check(self) -> str:
        body = self._json(self.send("GET", self.url("/recordings"), params={"limit": 1}))
        if not isinstance(body.get("data"), list):
            raise ConnectorError("Audian's recordings listing did not have the expected shape.")
        total = (body.get("pagination") or {}).get("total")
        message = f"Audian accepted the API key and lists {total} recordings."
        if not self.secrets.get("webhook_secret"):
            message += " No webhook signing secret is set: Audian's webhooks will be refused."
        return message

    # --- discovery ---------------------------------------------------------------------------

    def discover(self, cursor: dict) -> CatalogPage:
        """One page of GET /v2/recordings, newest first, from `since` (the last watermark).

        Offsets drift while a sync runs. New recordings enter at the top and push rows down:
        the next page repeats a few rows, never misses one (upsert is idempotent), and the new
        ones are newer than the watermark, so the next sync lists them. Recordings deleted at
        Audian pull rows up, which could skip one: each page starts PAGE_OVERLAP rows before
        the end of the last, and when none of those rows comes back the sync steps back a page.
        """
        since, offset = cursor.get("since"), int(cursor.get("offset", 0))
        params = {"limit": self.page_size, "offset": offset}
        if since:
            params["since"] = since
        body = self._json(self.send("GET", self.url("/recordings"), params=params))
        rows = [row for row in body.get("data") or [] if self._listable(row)]
        pagination = body.get("pagination") or {}
        total = pagination.get("total") if isinstance(pagination.get("total"), int) else None
        tail = cursor.get("tail") or []

        if tail and offset > 0 and not self._continues(rows, tail, cursor.get("anchor")):
            back = max(0, offset - (self.page_size - self.page_overlap))
            recordings = [self._listed(row) for row in rows]
            return CatalogPage(recordings, {**cursor, "offset": back}, total)

        seen = self._progress(cursor, rows)
        recordings = [self._listed(row) for row in rows if str(row["recording_id"]) not in tail]
        has_more = pagination.get("has_more")
        if not isinstance(has_more, bool):
            granted = pagination.get("limit")
            page = granted if isinstance(granted, int) and granted > 0 else self.page_size
            has_more = len(rows) >= min(page, self.page_size)
        if has_more and rows:
            overlap = min(self.page_overlap, len(rows) - 1)
            following = {
                **seen,
                "since": since,
                "offset": offset + len(rows) - overlap,
                "tail": [str(row["recording_id"]) for row in rows[len(rows) - overlap :]],
                "anchor": rows[-1].get("created_at"),
            }
            return CatalogPage(recordings, following, total)
        return CatalogPage(recordings, None, total, self._watermark(since, seen))

    @staticmethod
    def _listable(row) -> bool:
        return isinstance(row, dict) and isinstance(row.get("recording_id"), str | int)

    @staticmethod
    def _continues(rows: list[dict], tail: list[str], anchor: str | None) -> bool:
        """Whether this page joins the last one: it repeats a row of its end, or starts above."""
        if any(str(row["recording_id"]) in tail for row in rows):
            return True
        first, last = (parse_time(rows[0].get("created_at")) if rows else None), parse_time(anchor)
        return bool(first and last and first > last)

    @staticmethod
    def _progress(cursor: dict, rows: list[dict]) -> dict:
        """The newest created_at seen, and the oldest of recordings still being processed."""
        newest, pending = parse_time(cursor.get("newest")), parse_time(cursor.get("pending"))
        for row in rows:
            created = parse_time(row.get("created_at"))
            if created is None:
                continue
            newest = max(newest, created) if newest else created
            if row.get("status") not in ("completed", "failed"):
                pending = min(pending, created) if pending else created
        return {
            "newest": iso(newest) if newest else None,
            "pending": iso(pending) if pending else None,
        }

    @staticmethod
    def _watermark(since: str | None, seen: dict) -> dict | None:
        """Where the next sync starts: judged by Audian's clock only, so skew cannot lose rows.

        Never past a recording still being processed: the next sync sees it completed.
        """
        newest = parse_time(seen.get("newest"))
        if newest is None:
            return None  # nothing listed: the account keeps its watermark
        mark = newest - SINCE_OVERLAP
        pending = parse_time(seen.get("pending"))
        if pending:
            mark = min(mark, pending)
        previous = parse_time(since)
        if previous:
            mark = max(mark, previous)
        return {"since": iso(mark)}

    @staticmethod
    def _listed(row: dict) -> RemoteRecording:
        status = str(row.get("status") or "")
        created = parse_time(row.get("created_at"))
        duration = number(row.get("duration"))
        size = row.get("file_size")
        started = created - timedelta(seconds=duration) if created and duration else created
        return RemoteRecording(
            external_id=str(row["recording_id"]),
            vendor_call_id=str(row.get("call_id") or ""),
            started_at=started,
            duration=duration,
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            vendor_state=status,
            ready=status == "completed",
            gone=status == "failed",
            metadata={"created_at": iso(created)} if created else {},
        )

    # --- media and deletion ------------------------------------------------------------------

    @contextmanager
    def media(self, ref: RecordingRef):
        """GET .../download answers 302 to a temporary URL, fetched without the API key.

        The redirect is not followed blindly: a temporary URL found expired (403) is asked for
        again rather than retried as it was.
        """
        with self.stream_signed_link(
            lambda: self._temporary_url(ref), expected_sha256=ref.sha256
        ) as media:
            yield media

    def _temporary_url(self, ref: RecordingRef) -> str:
        url = self._recording_url(ref.external_id, "/download")
        response = self.send("GET", url, follow_redirects=False)
        location = response.headers.get("Location")
        if not response.is_redirect or not location:
            raise ConnectorError(
                f"Audian answered the download request with HTTP {response.status_code} "
                "instead of a redirect to the file.",
                permanent=True,
            )
        return str(response.url.join(location))

    def delete(self, ref: RecordingRef) -> str:
        try:
            body = self._json(self.send("DELETE", self._recording_url(ref.external_id)))
        except Gone:
            return f"Audian no longer had recording {ref.external_id} (deleted or expired)."
        return f"Audian deleted recording {ref.external_id} at {body.get('deleted_at')}."

    # --- webhooks ----------------------------------------------------------------------------

    def parse_event(self, path: str, headers: dict[str, str], body: bytes) -> VendorEvent:
        """A verified recording event; the event path is free (whatever URL the admin gave)."""
        headers = {name.lower(): value for name, value in headers.items()}
        self._verify(headers, body)
        kind, data = self._event_body(body)
        # Retries keep the delivery id; without one, the same body is the same event.
        delivery_id = headers.get("x-audian-delivery-id", "").strip()
        delivery_id = delivery_id or f"sha256:{hashlib.sha256(body).hexdigest()}"
        recording, alarm = EVENT_READERS[kind](str(data["recording_id"]), data)
        return VendorEvent(delivery_id=delivery_id, recording=recording, alarm=alarm)

    def _verify(self, headers: dict[str, str], body: bytes) -> None:
        secret = self.secrets.get("webhook_secret")
        if not secret:
            raise InvalidEvent(UNVERIFIABLE, status=401)
        signature = headers.get("x-audian-signature", "").strip().lower()
        timestamp = headers.get("x-audian-timestamp", "").strip()
        if not signature or not (timestamp.isascii() and timestamp.isdigit()):
            raise InvalidEvent(
                "The request has no X-Audian-Signature and X-Audian-Timestamp: not from Audian.",
                status=401,
            )
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.encode()):
            raise InvalidEvent(
                "X-Audian-Signature does not match: the body was altered or signed with "
                "another secret than the account's webhook signing secret.",
                status=401,
            )
        skew = abs(time.time() - int(timestamp))
        if skew > SIGNATURE_TOLERANCE:
            # 409, not 400: the request is well formed and authentic, only too late (a replay,
            # or a clock more than five minutes off), which is worth telling apart in logs.
            raise InvalidEvent(
                f"The delivery was signed {int(skew)} seconds away from the portal's clock; "
                f"more than {SIGNATURE_TOLERANCE // 60} minutes is refused as a possible replay.",
                status=409,
            )

    @staticmethod
    def _event_body(body: bytes) -> tuple[str, dict]:
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"The webhook body is not JSON: {exc}", status=400) from exc
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise InvalidEvent('The webhook body has no "data" object.', status=400)
        kind, data = event.get("event"), event["data"]
        if not isinstance(kind, str) or kind not in EVENT_READERS:
            known = ", ".join(EVENT_READERS)
            raise InvalidEvent(f"Unknown Audian event {kind!r}; the portal reads {known}.")
        rec_id = data.get("recording_id")
        if not isinstance(rec_id, str) or not 0 < len(rec_id) <= MAX_ID:
            raise InvalidEvent(f"The {kind} event names no usable recording_id.", status=400)
        return kind, data


# --- the four recording events, each to what the catalog keeps -------------------------------


def _started(rec_id: str, data: dict) -> tuple[RemoteRecording, str]:
    return RemoteRecording(
        external_id=rec_id,
        vendor_call_id=str(data.get("call_id") or ""),
        started_at=parse_time(data.get("started_at")),
        vendor_state="recording",
        ready=False,
    ), ""


def _stopped(rec_id: str, data: dict) -> tuple[RemoteRecording, str]:
    stopped, duration = parse_time(data.get("stopped_at")), number(data.get("duration"))
    return RemoteRecording(
        external_id=rec_id,
        vendor_call_id=str(data.get("call_id") or ""),
        started_at=stopped - timedelta(seconds=duration) if stopped and duration else None,
        duration=duration,
        vendor_state="stopped",
        ready=False,
        metadata={"created_at": iso(stopped)} if stopped else {},
    ), ""


def _completed(rec_id: str, data: dict) -> tuple[RemoteRecording, str]:
    completed, duration = parse_time(data.get("completed_at")), number(data.get("duration"))
    size, fmt = data.get("file_size"), data.get("file_format")
    return RemoteRecording(
        external_id=rec_id,
        vendor_call_id=str(data.get("call_id") or ""),
        # Close to the start (processing time off); the next sync's listing gives it exactly.
        started_at=completed - timedelta(seconds=duration) if completed and duration else None,
        duration=duration,
        format=fmt.lower() if isinstance(fmt, str) else "",
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        sha256=_sha256(data.get("checksum")),
        vendor_state="completed",
        ready=True,
        metadata={"completed_at": iso(completed)} if completed else {},
    ), ""


def _sha256(checksum) -> str:
    """{"algorithm": "sha256", "value": hex}: the value when it really is a SHA-256."""
    if not isinstance(checksum, dict):
        return ""
    algorithm = str(checksum.get("algorithm", "")).lower().replace("-", "")
    value = str(checksum.get("value", "")).strip().lower()
    return value if algorithm == "sha256" and SHA256.fullmatch(value) else ""


def _failed(rec_id: str, data: dict) -> tuple[RemoteRecording, str]:
    reason = str(data.get("reason") or "unknown reason")
    failed = parse_time(data.get("failed_at"))
    call_id = str(data.get("call_id") or "")
    metadata = {"failure_reason": reason} | ({"failed_at": iso(failed)} if failed else {})
    alarm = (
        f"Audian could not produce recording {rec_id}"
        + (f" of call {call_id}" if call_id else "")
        + f" ({reason}): there is no audio to download."
    )
    recording = RemoteRecording(
        external_id=rec_id,
        vendor_call_id=call_id,
        vendor_state="failed",
        ready=False,
        gone=True,
        metadata=metadata,
    )
    return recording, alarm


EVENT_READERS = {
    "recording.started": _started,
    "recording.stopped": _stopped,
    "recording.completed": _completed,
    "recording.failed": _failed,
}
