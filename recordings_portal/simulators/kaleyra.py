"""Kaleyra (shared/vendor-apis/kaleyra.txt): the Call Recording Extraction API.

Served as the document has it: `POST /v1/<SID>/voice/recordings` with the `api-key` header and
form fields id, validity (minutes, default 5) and download (0: JSON with a signed link, 1: a 301
to it); the "Invalid Id" and "Id Expired" bodies byte-exact, although they are not valid JSON.

Document quirks we accept:
- its heading says "GET Method" while its curl says `-X POST`: both methods are served;
- its curl puts `id` in the query string as well as the form body: either is read, the form wins
  (validity and download likewise);
- its curl path has a stray `{}` (`/v1/{}SID/...`): there is no account "{}HX...", so such a path
  answers 404 like any other unknown SID; a client copying the typo fails loudly, not silently;
- recording ids are base64 with `==` padding and contain `+` or `/`: a client that does not
  URL-encode them sends a different id (a raw `+` in a form body decodes to a space) and gets
  "Invalid Id", as it would from Kaleyra.

Our own additions (the document is silent or refers to "Voice Error Codes" we do not have):
- HTTP 400 for "Invalid Id" and "Id Expired"; 400 with a JSON body in the documented shape for a
  bad validity or download value; 401 `{"code", "message", "data", "error"}` for a wrong or
  missing api-key; a validity of 1 to 10080 minutes (S3's presigned-URL limit is 7 days);
- the signed link: an S3-presigned-style URL served here under /s3/ (X-Amz-* parameters over
  the framework's LinkSigner); expired or tampered links answer 403 with S3's XML error body;
- recordings older than 6 calendar months answer "Id Expired": a few calls 200-260 days old
  are seeded next to the 30-day history, and advancing the clock ages the others;
- `GET /v1/<SID>/voice/recordings/report.csv` stands for the report a customer exports from
  the Kaleyra web app (the document says ids come from that report): newest first, times in the
  account's time zone (IST, printed without an offset, as the web app does), unanswered calls
  with an empty recording id, the expired old calls included.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import csv
import io
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate
from urllib.parse import unquote, urlencode

from .base import VendorSimulator, route
from .calls import DAY, SimCall, generate_calls
from .http import Request, Response, file_response, json_response, raw_response, redirect

SID = "HXIN1714553071IN"
API_KEY = "A5c1e0b7d93f24a68e1b0c9d7f3a52e41"
TIMEZONE = "Asia/Kolkata"
IST = timezone(timedelta(hours=5, minutes=30))
BUCKET = "kaleyra-voice-recordings-ap-south-1"
ACCESS_KEY_PREFIX = "AKIAKALEYR"  # + the 10-character nonce: a 20-character AWS access key id
MAX_VALIDITY_MINUTES = 7 * 24 * 60
RETENTION_MONTHS = 6
OLD_CALLS = 3  # seeded calls past the retention limit

REPORT_COLUMNS = [
    "ID",
    "Call ID",
    "From",
    "To",
    "Start Time",
    "Duration",
    "Direction",
    "Status",
]

# The document's failure bodies, byte-exact (they are not valid JSON: `"data": [ "id" : ... ]`).
INVALID_ID_BODY = """{
"code": "RBC31XX",
"message": "Invalid Id",
"data": [
"id" : %(id)s,
"validity" : %(validity)s,
"download" : %(download)s
],
"error": {
"id": "Invalid id"
}
}"""
ID_EXPIRED_BODY = """{
"code": "RBC31XX",
"message": "Id Expired",
"data": [
"id" : %(id)s,
"validity" : %(validity)s,
"download" : %(download)s
],
"error": {
"id": "Id Expired"
}
}"""


@dataclass(frozen=True)
class Recording:
    id: str
    call_id: str
    call: SimCall
    key: str  # the object key below /s3/ its signed link points at


@dataclass(frozen=True)
class MissedCall:
    call_id: str
    started_at: float
    caller: str
    callee: str
    direction: str
    status: str


def months_before(epoch: float, months: int) -> float:
    """The same wall-clock moment `months` calendar months earlier (day clamped to month end)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day).timestamp()


def recording_id(rng: random.Random, must_contain: str) -> str:
    """Base64 of 13 bytes: 20 characters ending `==`, like the document's `1xxxxx8axxxxgiu587==`."""
    while True:
        candidate = base64.b64encode(rng.randbytes(13)).decode()
        if must_contain in candidate:
            return candidate


def amz_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


def s3_error(code: str, message: str, **extra: str) -> Response:
    fields = "".join(f"<{name}>{value}</{name}>" for name, value in extra.items())
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId></Error>"
    )
    return raw_response(body, 403 if code != "NoSuchKey" else 404, "application/xml")


class KaleyraSimulator(VendorSimulator):
    name = "kaleyra"
    sid = SID
    api_key = API_KEY

    def reset(self) -> None:
        now = self.clock.now()
        options = {"formats": ("mp3", "mp3", "mp3", "wav"), "channels": (1,), "rates": (8000,)}
        recent = generate_calls(
            vendor=self.name, seed=self.seed, count=self.recordings, now=now, **options
        )
        # Same vendor and seed: the old calls reuse the first audio files of the pool.
        old = generate_calls(
            vendor=self.name,
            seed=self.seed,
            count=OLD_CALLS,
            now=now - 200 * DAY,
            days=60,
            **options,
        )
        rng = random.Random(f"{self.name}-ids:{self.seed}")
        self.by_id: dict[str, Recording] = {}
        self.by_key: dict[str, Recording] = {}
        for number, call in enumerate(sorted(old + recent, key=lambda c: c.started_at)):
            rec_id = recording_id(rng, "+" if number % 2 == 0 else "/")
            call_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            day = datetime.fromtimestamp(call.started_at, UTC).strftime("%Y/%m/%d")
            key = f"{BUCKET}/{self.sid}/recordings/{day}/{call_id}.{call.audio.format}"
            recording = Recording(rec_id, call_id, call, key)
            self.by_id[rec_id] = recording
            self.by_key[key] = recording
        self.missed = [
            MissedCall(
                call_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                started_at=now - rng.uniform(3600, 30 * DAY),
                caller=f"+1{rng.randint(201, 989)}{rng.randint(2000000, 9999999)}",
                callee=f"+1415555{2000 + rng.randrange(12):04d}",
                direction="inbound",
                status=rng.choice(["No Answer", "Busy"]),
            )
            for _ in range(max(1, self.recordings // 4))
        ]

    def credentials(self) -> dict:
        # The path stands for https://api.kaleyra.io; the connector appends /v1/<sid>/...
        return {
            "path": f"/{self.name}",
            "config": {"sid": self.sid, "timezone": TIMEZONE},
            "secrets": {"api_key": self.api_key},
        }

    def audio_specs(self) -> list:
        return sorted({recording.call.audio for recording in self.by_id.values()}, key=str)

    # --- the extraction API ----------------------------------------------------------------

    def _check_account(self, request: Request, sid: str) -> Response | None:
        if unquote(sid) != self.sid:  # also the document's `{}SID` typo
            error = {"path": f"No resource found for {request.path}"}
            body = {"code": "RBC104", "message": "Not Found", "data": [], "error": error}
            return json_response(body, 404)
        if request.header("api-key") != self.api_key:
            error = {"api-key": "Invalid or missing API key"}
            body = {"code": "RBC101", "message": "Unauthorized", "data": [], "error": error}
            return json_response(body, 401)
        return None

    @route("POST", r"/v1/(?P<sid>[^/]+)/voice/recordings")
    def extract(self, request: Request, sid: str) -> Response:
        return self._extract(request, sid, request.form())

    @route("GET", r"/v1/(?P<sid>[^/]+)/voice/recordings")
    def extract_by_get(self, request: Request, sid: str) -> Response:
        # The document's heading says "GET Method"; its curl says POST. GET reads the query.
        return self._extract(request, sid, {})

    def _extract(self, request: Request, sid: str, form: dict[str, str]) -> Response:
        refused = self._check_account(request, sid)
        if refused:
            return refused

        def param(name: str, default: str) -> str:
            return form.get(name) or request.arg(name) or default

        rec_id, validity, download = param("id", ""), param("validity", "5"), param("download", "0")
        if not validity.isdigit() or not 1 <= int(validity) <= MAX_VALIDITY_MINUTES:
            message = f"validity must be 1 to {MAX_VALIDITY_MINUTES} minutes"
            return self._bad_param("validity", message)
        if download not in ("0", "1"):
            return self._bad_param("download", "download must be 0 or 1")
        # The documented bodies echo the request's values.
        values = {"id": rec_id, "validity": validity, "download": download}
        values = {key: json.dumps(value) for key, value in values.items()}
        with self.lock:
            recording = self.by_id.get(rec_id)
        if recording is None:
            return raw_response(INVALID_ID_BODY % values, 400)
        if recording.call.started_at < months_before(self.clock.now(), RETENTION_MONTHS):
            return raw_response(ID_EXPIRED_BODY % values, 400)
        link = self._presign(request.base_url, recording.key, int(validity) * 60)
        if download == "1":
            return redirect(link, 301)
        return json_response(
            {
                "code": "RBC3XXX",  # as documented: the real code is masked there too
                "message": "Request successfully executed!",
                "data": {"link": link},
                "error": {},
            }
        )

    def _bad_param(self, name: str, message: str) -> Response:
        body = {
            "code": "RBC31XX",
            "message": f"Invalid {name}",
            "data": [],
            "error": {name: message},
        }
        return json_response(body, 400)

    # --- the signed S3-style link ------------------------------------------------------------

    def _presign(self, base_url: str, key: str, ttl: int) -> str:
        issued = int(self.clock.now())
        if self.faults.expire_links:
            issued -= ttl + 60
        signed = self.signer.sign(f"/s3/{key}", ttl, now=issued)
        signature = base64.urlsafe_b64decode(signed["s"] + "=").hex()
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            # The signer's nonce travels in the access key id: S3 links carry no nonce field.
            "X-Amz-Credential": f"{ACCESS_KEY_PREFIX}{signed['n'].upper()}/"
            f"{amz_time(issued)[:8]}/ap-south-1/s3/aws4_request",
            "X-Amz-Date": amz_time(issued),
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": signature,
        }
        return f"{base_url}/s3/{key}?{urlencode(query)}"

    def _link_verdict(self, request: Request) -> str | None:
        try:
            issued = datetime.strptime(request.arg("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ")
            expires = int(issued.replace(tzinfo=UTC).timestamp()) + int(
                request.arg("X-Amz-Expires", "")
            )
            nonce = request.arg("X-Amz-Credential", "").split("/")[0][len(ACCESS_KEY_PREFIX) :]
            signature = base64.urlsafe_b64encode(bytes.fromhex(request.arg("X-Amz-Signature", "")))
        except (ValueError, binascii.Error):
            return "invalid"
        params = {"e": str(expires), "n": nonce.lower(), "s": signature.decode().rstrip("=")}
        return self.signer.check(request.path, params, now=self.clock.now())

    @route("GET", r"/s3/(?P<key>.+)")
    def media(self, request: Request, key: str) -> Response:
        if request.arg("X-Amz-Signature") is None:
            return s3_error("AccessDenied", "Access Denied")
        verdict = self._link_verdict(request)
        if verdict == "expired":
            expires = int(request.arg("X-Amz-Expires", "0"))
            return s3_error(
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": str(expires)},
                ServerTime=datetime.fromtimestamp(self.clock.now(), UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            )
        if verdict == "invalid":
            return s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )
        with self.lock:
            recording = self.by_key.get(unquote(key))
        if recording is None:
            return s3_error("NoSuchKey", "The specified key does not exist.", Key=unquote(key))
        audio = self.audio.get(recording.call.audio)
        headers = {"Last-Modified": formatdate(recording.call.ended_at, usegmt=True)}
        return file_response(audio.path, audio.content_type, headers)

    # --- the web app's report ----------------------------------------------------------------

    @route("GET", r"/v1/(?P<sid>[^/]+)/voice/recordings/report\.csv")
    def report(self, request: Request, sid: str) -> Response:
        refused = self._check_account(request, sid)
        if refused:
            return refused
        with self.lock:
            rows = [
                (r.call.started_at, r.id, r.call_id, r.call, "Answered")
                for r in self.by_id.values()
            ]
            rows += [(m.started_at, "", m.call_id, m, m.status) for m in self.missed]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerow(REPORT_COLUMNS)
        for started_at, rec_id, call_id, call, status in sorted(
            rows, key=lambda row: row[0], reverse=True
        ):
            start = datetime.fromtimestamp(started_at, IST).strftime("%Y-%m-%d %H:%M:%S")
            duration = call.duration if status == "Answered" else 0
            writer.writerow(
                [
                    rec_id,
                    call_id,
                    call.caller,
                    call.callee,
                    start,
                    duration,
                    call.direction.title(),
                    status,
                ]
            )
        response = raw_response(out.getvalue(), 200, "text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="voice-call-report.csv"'
        return response
