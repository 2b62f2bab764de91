"""Audian (shared/vendor-apis/audian.txt): call recording under /v2, webhooks, 30-day retention.

The account's base URL is http://host:port/audian; every documented path (/v2/...) sits below it.
Served as documented: recording info, listing (call_id, since, limit/offset, the pagination
block), download by 302 to a temporary URL valid 24 hours, delete, POST /v2/calls with a
recording block, record start/stop/pause/resume, call-flows, the three documented errors, the
four webhook events, retention of 30 days (on the simulated clock), mixed formats.

Our additions, where the document is silent:
- Auth: X-Auth-Token, and also `Authorization: Bearer` because the document's code samples use it;
  anything else is 401 {"error": "unauthorized", ...} in the documented error shape.
- Listing order: newest first (as the sample), ties broken by recording_id descending. Offset
  pages stay consistent while new recordings arrive (they push rows down: a repeat, never a
  miss) and while old ones expire (they leave from the end).
- `since` keeps recordings created at or after it (ISO 8601; epoch seconds also accepted).
  `limit` defaults to 50 and is capped at 1000; bad limit/offset/since answer 400 invalid_request.
- created_at is when the recording stopped (so the document's samples); a recording enters the
  listing then. Before that GET by id shows it with created_at null.
- The temporary URL is /audian/media/<id>.<ext>?e=&n=&s= (no auth header needed); expired or
  tampered answers 403. Download of a recording not completed yet answers 409 not_ready with
  Retry-After; of a failed one 409 recording_failed.
- Calls: POST /v2/calls answers 201 with a call_id; with recording enabled the recording is
  "initiated" until the call is answered (answer_delay), then "recording". stop -> "stopped" ->
  "processing" -> "completed" (or "failed") over processing_delay. Actions in the wrong state
  answer 409 invalid_state; an unknown call 404 not_found "Call not found". Participant "all"
  records a mono mix, as the document's info sample shows channels 1.
- bitrate in info is the file's real encoder bitrate (a requested bitrate is validated only).
- Quirk: the Opus section allows 48 kHz although the parameter table lists 8000/16000; we accept
  48000 for opus only.
- Webhook signing and retries: see audian_webhooks.py. download_url in events is built from the
  URL the simulator was last reached at (or `api_url` given to the webhook knob).

Control knobs (POST /_control/audian/<knob>): webhook {url, secret, retries, backoff, api_url},
quota {exceeded}, timing {answer_delay, processing_delay}, fail_next {count, reason},
finish {} (complete stopped recordings now), emit {recording_id, event},
add_recording {format, channels, sample_rate, duration, call_id}.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlencode

from .audian_webhooks import WebhookSender
from .audio import BITRATES, AudioSpec
from .base import VendorSimulator, route
from .calls import DAY, generate_calls
from .http import Request, Response, file_response, json_response, redirect

API_KEY = "aud_live_3f9c2e71b8d04a56"
WEBHOOK_SECRET = "whsec_audian_demo_7d41c0e9"  # noqa: S105 - the simulator's demo secret
RETENTION = 30 * DAY
LINK_TTL = 24 * 3600
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
FORMATS = ("wav", "mp3", "opus")
PARTICIPANTS = ("all", "caller", "callee")
ACTIVE = ("initiated", "recording", "paused")
PENDING = ("stopped", "processing")
EVENTS = ("recording.started", "recording.stopped", "recording.completed", "recording.failed")
LAST_ID = "\U0010ffff"  # sorts after every recording id: bisect past a whole second

DOCUMENTED_ERRORS = {
    "quota_exceeded": (429, "Recording storage quota exceeded"),
    "not_found": (404, "Recording not found"),
    "invalid_format": (400, "Recording format is not supported"),
}


def error(kind: str, message: str | None = None, code: int = 400, headers=None) -> Response:
    """The document's error shape; its three errors keep their documented status and text."""
    code, text = DOCUMENTED_ERRORS.get(kind, (code, message))
    body = {"error": kind, "message": message or text, "code": code}
    return json_response(body, code, headers)


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float | None:
    """ISO 8601 (Z, offset or naive UTC) or epoch seconds; None when unreadable."""
    if text.isdigit():
        return float(text)
    # An unencoded "+00:00" arrives as " 00:00" after query decoding.
    for candidate in (text, text.replace(" ", "+")):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def make_id(prefix: str, serial: int, salt: int) -> str:
    """Distinct for distinct serials (odd multiplier and xor are bijections mod 2**32)."""
    return f"{prefix}_{((serial * 0x9E3779B1) ^ salt) & 0xFFFFFFFF:08x}"


def kbps(spec: AudioSpec) -> int:
    if spec.format == "wav":
        return spec.sample_rate * 16 * spec.channels // 1000
    return BITRATES.get((spec.format, spec.sample_rate), 24_000) // 1000


@dataclass(slots=True)
class Recording:
    recording_id: str
    call_id: str
    status: str
    format: str
    channels: int
    sample_rate: int
    started_at: float | None = None
    audio: AudioSpec | None = None  # fixed when the recording stops
    created_at: int | None = None  # when it stopped; whole seconds, so `since` is exact
    completed_at: float | None = None
    failed_at: float | None = None
    reason: str | None = None
    recorded: float = 0.0  # seconds recorded before the current stretch
    resumed_at: float | None = None  # start of the current stretch while recording

    def key(self) -> tuple[int, str]:
        return (self.created_at, self.recording_id)

    def duration(self, now: float) -> int:
        if self.audio:
            return self.audio.duration
        running = now - self.resumed_at if self.resumed_at is not None else 0.0
        return int(self.recorded + running)


@dataclass
class Call:
    call_id: str
    caller: str
    callee: str
    created_at: float
    options: dict | None  # the recording block, validated
    recording_id: str | None = None  # the latest recording on this call


class AudianSimulator(VendorSimulator):
    name = "audian"
    api_key = API_KEY
    api_url: str | None = None  # where clients reach us, for links in webhook bodies

    def reset(self) -> None:
        self.generation = getattr(self, "generation", 0) + 1
        if not hasattr(self, "webhooks"):
            self.webhooks = WebhookSender(self.clock, WEBHOOK_SECRET)
            self.processing_lock = threading.Lock()
        self.webhooks.reset()
        self.quota_exceeded = False
        self.answer_delay, self.processing_delay = 0.2, 1.0
        self.fail_next, self.fail_reason = 0, "storage_error"
        self.calls: dict[str, Call] = {}
        self.call_flows: dict[str, dict] = {}
        self.serial = self.recordings
        self.recordings_by_id: dict[str, Recording] = {}
        self.by_call: dict[str, list[str]] = {}
        seeded = generate_calls(
            vendor=self.name,
            seed=self.seed,
            count=self.recordings,
            now=self.clock.now(),
            formats=("mp3", "mp3", "wav", "opus"),  # mp3 is the default format
        )
        for call in seeded:
            spec = call.audio
            stopped = int(call.ended_at)
            recording = Recording(
                recording_id=make_id("rec", call.index, 0x5EED),
                call_id=make_id("call", call.index, 0xCA11),
                status="completed",
                format=spec.format,
                channels=spec.channels,
                sample_rate=spec.sample_rate,
                started_at=call.started_at,
                audio=spec,
                created_at=stopped,
                completed_at=stopped + 10 + spec.duration // 10,
            )
            self.recordings_by_id[recording.recording_id] = recording
            self.by_call[recording.call_id] = [recording.recording_id]
        # Every listed recording's (created_at, recording_id), ascending: pages are bisected.
        self.index = sorted(r.key() for r in self.recordings_by_id.values())
        # Listing rows carry real file sizes: encode the (pooled) files before a client asks.
        self._soon(0, self._warm_audio, sorted({c.audio for c in seeded}, key=str))

    def _warm_audio(self, specs: list[AudioSpec], generation: int) -> None:
        for spec in specs:
            if generation != self.generation:
                return
            self.audio.get(spec)

    def credentials(self) -> dict:
        return {
            "path": "/audian",
            "config": {},
            "secrets": {"api_key": self.api_key, "webhook_secret": WEBHOOK_SECRET},
        }

    def dispatch(self, request: Request) -> Response:
        self.api_url = request.base_url
        if not request.path.startswith("/media/"):  # temporary URLs carry their own signature
            token = request.header("X-Auth-Token")
            bearer = request.header("Authorization", "")
            if token != self.api_key and bearer != f"Bearer {self.api_key}":
                return error("unauthorized", "Invalid or missing API key", 401)
        return super().dispatch(request)

    # --- recordings -----------------------------------------------------------------------

    def _visible(self, rec_id: str) -> Recording | None:
        """The recording, unless deleted or past retention."""
        recording = self.recordings_by_id.get(unquote(rec_id))
        if recording is None:
            return None
        created = recording.created_at
        if created is not None and created + RETENTION <= self.clock.now():
            return None
        return recording

    def _file_size(self, recording: Recording) -> int | None:
        if recording.status != "completed":
            return None
        return self.audio.get(recording.audio).size

    def _info(self, recording: Recording) -> dict:
        spec = recording.audio
        now = self.clock.now()
        return {
            "recording_id": recording.recording_id,
            "call_id": recording.call_id,
            "duration": recording.duration(now),
            "file_size": self._file_size(recording),
            "file_format": recording.format,
            "bitrate": kbps(
                spec or AudioSpec(recording.format, recording.channels, recording.sample_rate, 1)
            ),
            "sample_rate": recording.sample_rate,
            "channels": recording.channels,
            "status": recording.status,
            "created_at": iso(recording.created_at),
            "completed_at": iso(recording.completed_at),
        }

    @route("GET", r"/v2/recordings")
    def list_recordings(self, request: Request) -> Response:
        try:
            limit = int(request.arg("limit") or DEFAULT_LIMIT)
            offset = int(request.arg("offset") or 0)
        except ValueError:
            return error("invalid_request", "limit and offset must be integers")
        if limit < 1 or offset < 0:
            return error("invalid_request", "limit must be positive and offset not negative")
        limit = min(limit, MAX_LIMIT)
        since = parse_time(request.arg("since")) if request.arg("since") else None
        if request.arg("since") and since is None:
            return error("invalid_request", "since must be an ISO 8601 date-time")
        call_id = request.arg("call_id")
        with self.lock:
            if call_id is None:
                keys = self.index
            else:
                found = (self.recordings_by_id.get(i) for i in self.by_call.get(call_id, ()))
                keys = sorted(r.key() for r in found if r and r.created_at is not None)
            lo = bisect_right(keys, (self.clock.now() - RETENTION, LAST_ID))
            if since is not None:
                lo = max(lo, bisect_left(keys, (since,)))
            end = len(keys) - offset
            page = keys[max(lo, end - limit) : end][::-1] if end > lo else []
            total = max(0, len(keys) - lo)
            recordings = [self.recordings_by_id[rec_id] for _, rec_id in page]
        # Outside the lock: the first look at a file may encode it.
        rows = [
            {
                "recording_id": r.recording_id,
                "call_id": r.call_id,
                "duration": r.audio.duration,
                "file_size": self._file_size(r),
                "status": r.status,
                "created_at": iso(r.created_at),
            }
            for r in recordings
        ]
        pagination = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < total,
        }
        return json_response({"data": rows, "pagination": pagination})

    @route("GET", r"/v2/recordings/(?P<rec_id>[^/]+)")
    def recording_info(self, request: Request, rec_id: str) -> Response:
        with self.lock:
            recording = self._visible(rec_id)
        if recording is None:
            return error("not_found")
        return json_response(self._info(recording))

    @route("DELETE", r"/v2/recordings/(?P<rec_id>[^/]+)")
    def delete_recording(self, request: Request, rec_id: str) -> Response:
        with self.lock:
            recording = self._visible(rec_id)
            if recording is None:
                return error("not_found")
            if recording.status in ACTIVE:
                return error("invalid_state", "Stop the recording before deleting it", 409)
            del self.recordings_by_id[recording.recording_id]
            if recording.created_at is not None:
                position = bisect_left(self.index, recording.key())
                if position < len(self.index) and self.index[position] == recording.key():
                    del self.index[position]
            deleted_at = iso(self.clock.now())
        return json_response({"recording_id": recording.recording_id, "deleted_at": deleted_at})

    @route("GET", r"/v2/recordings/(?P<rec_id>[^/]+)/download")
    def download(self, request: Request, rec_id: str) -> Response:
        with self.lock:
            recording = self._visible(rec_id)
        if recording is None:
            return error("not_found")
        if recording.status == "failed":
            return error("recording_failed", "Recording failed and has no file", 409)
        if recording.status != "completed":
            wait = {"Retry-After": str(max(1, round(self.processing_delay)))}
            return error("not_ready", "Recording is not ready for download", 409, wait)
        path = f"/media/{recording.recording_id}.{recording.format}"
        ttl = -60 if self.faults.expire_links else LINK_TTL
        params = self.signer.sign(path, ttl, now=self.clock.now())
        return redirect(f"{request.base_url}{path}?{urlencode(params)}")

    @route("GET", r"/media/(?P<rec_id>[^/.]+)\.(?P<ext>wav|mp3|opus)")
    def temporary_file(self, request: Request, rec_id: str, ext: str) -> Response:
        params = {name: request.arg(name, "") for name in ("e", "n", "s")}
        problem = self.signer.check(request.path, params, now=self.clock.now())
        if problem == "expired":
            return error("link_expired", "Download link has expired", 403)
        if problem:
            return error("forbidden", "Download link is not valid", 403)
        with self.lock:
            recording = self._visible(rec_id)
        if recording is None or recording.status != "completed":
            return error("not_found")
        audio = self.audio.get(recording.audio)
        disposition = f'attachment; filename="{recording.recording_id}.{ext}"'
        return file_response(audio.path, audio.content_type, {"Content-Disposition": disposition})

    # --- calls and call control -----------------------------------------------------------

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def _body(self, request: Request) -> dict | Response:
        if not request.body.strip():
            return {}
        body = request.json()
        if not isinstance(body, dict):
            return error("invalid_request", "Body must be a JSON object")
        return body

    def _recording_options(self, block: object) -> dict | Response:
        """A recording block with its defaults filled in, or the error to answer."""
        if not isinstance(block, dict):
            return error("invalid_request", "recording must be an object")
        fmt = block.get("format", "mp3")
        rate = block.get("sample_rate", 16000)
        bitrate = block.get("bitrate")
        rates = (8000, 16000, 48000) if fmt == "opus" else (8000, 16000)  # see the docstring
        if fmt not in FORMATS or isinstance(rate, bool) or rate not in rates:
            return error("invalid_format")
        if bitrate is not None and (type(bitrate) is not int or bitrate <= 0):
            return error("invalid_format")
        participant = block.get("participant", "all")
        if participant not in PARTICIPANTS:
            return error("invalid_request", "participant must be all, caller or callee")
        return {**block, "format": fmt, "participant": participant, "sample_rate": rate}

    def _new_recording(self, call: Call, options: dict, status: str) -> Recording:
        recording = Recording(
            recording_id=make_id("rec", self._next_serial(), 0x5EED),
            call_id=call.call_id,
            status=status,
            format=options["format"],
            channels=1,
            sample_rate=options["sample_rate"],
        )
        if status == "recording":
            recording.started_at = recording.resumed_at = self.clock.now()
        self.recordings_by_id[recording.recording_id] = recording
        self.by_call.setdefault(call.call_id, []).append(recording.recording_id)
        call.recording_id = recording.recording_id
        return recording

    def _soon(self, delay: float, step, subject) -> None:
        """Run step(subject, generation) later; steps ignore work of a state since reset."""
        generation = self.generation
        self.later(delay, lambda: step(subject, generation))

    @route("POST", r"/v2/calls")
    def create_call(self, request: Request) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        caller, callee = body.get("from"), body.get("to")
        if not isinstance(caller, str) or not isinstance(callee, str):
            return error("invalid_request", "from and to are required")
        block = body.get("recording")
        options = None
        if isinstance(block, dict) and block.get("enabled") is True:
            options = self._recording_options(block)
            if isinstance(options, Response):
                return options
        with self.lock:
            if options and self.quota_exceeded:
                return error("quota_exceeded")
            now = self.clock.now()
            call = Call(make_id("call", self._next_serial(), 0xCA11), caller, callee, now, options)
            self.calls[call.call_id] = call
            recording = None
            if options:
                recording = self._new_recording(call, options, "initiated")
                self._soon(self.answer_delay, self._answer, recording.recording_id)
        recording_block = None
        if recording:
            recording_block = {
                "recording_id": recording.recording_id,
                "status": recording.status,
                "format": recording.format,
                "participant": options["participant"],
            }
        answer = {
            "call_id": call.call_id,
            "from": caller,
            "to": callee,
            "status": "active",
            "created_at": iso(now),
            "recording": recording_block,
        }
        return json_response(answer, 201)

    def _answer(self, rec_id: str, generation: int) -> None:
        with self.lock:
            recording = self.recordings_by_id.get(rec_id)
            if generation != self.generation or not recording or recording.status != "initiated":
                return
            recording.status = "recording"
            recording.started_at = recording.resumed_at = self.clock.now()
            self.webhooks.send(self._event("recording.started", recording))

    @route("POST", r"/v2/calls/(?P<call_id>[^/]+)/record/(?P<action>start|stop|pause|resume)")
    def record(self, request: Request, call_id: str, action: str) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        with self.lock:
            call = self.calls.get(unquote(call_id))
            if call is None:
                return error("not_found", "Call not found")
            latest = self.recordings_by_id.get(call.recording_id or "")
            active = latest if latest and latest.status in ACTIVE else None
            if action == "start":
                return self._start(call, active, body)
            if active is None:
                return error("invalid_state", "The call has no active recording", 409)
            return getattr(self, f"_{action}")(active)

    def _start(self, call: Call, active: Recording | None, body: dict) -> Response:
        if active:
            return error("invalid_state", "The call is already being recorded", 409)
        options = self._recording_options({**(call.options or {}), **body})
        if isinstance(options, Response):
            return options
        if self.quota_exceeded:
            return error("quota_exceeded")
        recording = self._new_recording(call, options, "recording")
        self.webhooks.send(self._event("recording.started", recording))
        return json_response(
            {
                "call_id": call.call_id,
                "recording_id": recording.recording_id,
                "status": "recording",
                "started_at": iso(recording.started_at),
                "format": recording.format,
            }
        )

    def _stop(self, recording: Recording) -> Response:
        now = self.clock.now()
        if recording.started_at is None:  # stopped before the call was answered
            recording.started_at = now
        seconds = max(1, recording.duration(now))
        voice = int(recording.recording_id[4:], 16) % 8
        recording.audio = AudioSpec(
            recording.format, recording.channels, recording.sample_rate, seconds, voice
        )
        recording.status, recording.resumed_at = "stopped", None
        recording.created_at = int(now)
        insort(self.index, recording.key())
        self.webhooks.send(self._event("recording.stopped", recording))
        self._soon(self.processing_delay / 2, self._begin_processing, recording.recording_id)
        self._soon(self.processing_delay, self._process, recording.recording_id)
        return json_response(
            {
                "call_id": recording.call_id,
                "recording_id": recording.recording_id,
                "status": "stopped",
                "stopped_at": iso(recording.created_at),
                "duration": seconds,
            }
        )

    def _pause(self, recording: Recording) -> Response:
        if recording.status != "recording":
            return error(
                "invalid_state", f"Cannot pause a recording that is {recording.status}", 409
            )
        now = self.clock.now()
        recording.recorded += now - recording.resumed_at
        recording.status, recording.resumed_at = "paused", None
        return self._changed(recording, "paused_at", now)

    def _resume(self, recording: Recording) -> Response:
        if recording.status != "paused":
            return error(
                "invalid_state", f"Cannot resume a recording that is {recording.status}", 409
            )
        now = self.clock.now()
        recording.status, recording.resumed_at = "recording", now
        return self._changed(recording, "resumed_at", now)

    def _changed(self, recording: Recording, field: str, when: float) -> Response:
        # The document shows no body for pause and resume; this one mirrors start and stop.
        return json_response(
            {
                "call_id": recording.call_id,
                "recording_id": recording.recording_id,
                "status": recording.status,
                field: iso(when),
            }
        )

    def _begin_processing(self, rec_id: str, generation: int) -> None:
        with self.lock:
            recording = self.recordings_by_id.get(rec_id)
            if generation == self.generation and recording and recording.status == "stopped":
                recording.status = "processing"

    def _process(self, rec_id: str, generation: int) -> None:
        """Encode the file and complete the recording (or fail it, when told to)."""
        with self.processing_lock:  # one at a time, so `finish` waits for a timer mid-way
            with self.lock:
                recording = self.recordings_by_id.get(rec_id)
                if generation != self.generation or not recording:
                    return
                if recording.status not in PENDING:
                    return
                recording.status = "processing"
                reason = None
                if self.fail_next > 0:
                    reason, self.fail_next = self.fail_reason, self.fail_next - 1
            if reason is None:
                try:
                    self.audio.get(recording.audio)
                except Exception:
                    reason = "processing_error"
            with self.lock:
                if (
                    generation != self.generation
                    or self.recordings_by_id.get(rec_id) is not recording
                ):
                    return  # reset or deleted meanwhile
                if reason:
                    recording.status, recording.reason = "failed", reason
                    recording.failed_at = self.clock.now()
                    self.webhooks.send(self._event("recording.failed", recording))
                else:
                    recording.status, recording.completed_at = "completed", self.clock.now()
                    self.webhooks.send(self._event("recording.completed", recording))

    @route("POST", r"/v2/call-flows")
    def create_call_flow(self, request: Request) -> Response:
        body = self._body(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("phone_number"), str):
            return error("invalid_request", "phone_number is required")
        if not isinstance(body.get("routing", []), list):
            return error("invalid_request", "routing must be a list")
        block = body.get("recording")
        if isinstance(block, dict) and block.get("enabled") is True:
            block = self._recording_options(block)
            if isinstance(block, Response):
                return block
        with self.lock:
            flow = {
                "call_flow_id": make_id("cf", self._next_serial(), 0xF10F),
                "name": body.get("name"),
                "phone_number": body["phone_number"],
                "recording": block,
                "routing": body.get("routing", []),
                "created_at": iso(self.clock.now()),
            }
            self.call_flows[flow["call_flow_id"]] = flow
        return json_response(flow, 201)

    # --- webhook bodies, exactly the document's ---------------------------------------------

    def _download_url(self, recording: Recording) -> str:
        base = self.api_url or f"/{self.name}"  # path only until a client has reached us
        return f"{base}/v2/recordings/{recording.recording_id}/download"

    def _event(self, kind: str, recording: Recording) -> dict:
        data = {"call_id": recording.call_id, "recording_id": recording.recording_id}
        if kind == "recording.started":
            data["started_at"] = iso(recording.started_at)
        elif kind == "recording.stopped":
            data["duration"] = recording.duration(self.clock.now())
            data["stopped_at"] = iso(recording.created_at)
        elif kind == "recording.completed":
            audio = self.audio.get(recording.audio)
            checksum = audio.sha256
            if self.faults.wrong_checksum:
                checksum = hashlib.sha256(checksum.encode()).hexdigest()
            data |= {
                "duration": recording.audio.duration,
                "file_size": audio.size,
                "file_format": recording.format,
                "download_url": self._download_url(recording),
                "completed_at": iso(recording.completed_at),
                "checksum": {"algorithm": "sha256", "value": checksum},
            }
        else:
            data["reason"] = recording.reason or "storage_error"
            data["failed_at"] = iso(recording.failed_at or self.clock.now())
        return {"event": kind, "data": data}

    # --- control knobs ----------------------------------------------------------------------

    def control(self, knob: str, payload: dict) -> Response:
        handler = getattr(self, f"_knob_{knob}", None)
        if handler is None:
            return super().control(knob, payload)
        return handler(payload)

    def _knob_webhook(self, payload: dict) -> Response:
        """{url, secret, retries, backoff, api_url}: where events go; url null turns them off."""
        if payload.get("api_url"):
            self.api_url = payload["api_url"].rstrip("/")
        settings = {k: payload[k] for k in ("url", "secret", "retries", "backoff") if k in payload}
        config = self.webhooks.configure(**settings)
        return json_response(vars(config) | {"api_url": self.api_url})

    def _knob_quota(self, payload: dict) -> Response:
        self.quota_exceeded = bool(payload.get("exceeded", True))
        return json_response({"exceeded": self.quota_exceeded})

    def _knob_timing(self, payload: dict) -> Response:
        """Wall seconds from POST /v2/calls to "recording", and from stop to "completed"."""
        self.answer_delay = float(payload.get("answer_delay", self.answer_delay))
        self.processing_delay = float(payload.get("processing_delay", self.processing_delay))
        return json_response(
            {"answer_delay": self.answer_delay, "processing_delay": self.processing_delay}
        )

    def _knob_fail_next(self, payload: dict) -> Response:
        """The next `count` recordings to finish processing fail with `reason`."""
        with self.lock:
            self.fail_next = int(payload.get("count", 1))
            self.fail_reason = payload.get("reason", "storage_error")
        return json_response({"count": self.fail_next, "reason": self.fail_reason})

    def _knob_finish(self, payload: dict) -> Response:
        """Finish processing every stopped recording now, without waiting for the timers."""
        with self.lock:
            generation = self.generation
            pending = [
                r.recording_id for r in self.recordings_by_id.values() if r.status in PENDING
            ]
        for rec_id in pending:
            self._process(rec_id, generation)
        with self.lock:
            statuses = {
                i: self.recordings_by_id[i].status for i in pending if i in self.recordings_by_id
            }
        return json_response({"finished": statuses})

    def _knob_emit(self, payload: dict) -> Response:
        """Send an event for an existing recording again (default recording.completed)."""
        kind = payload.get("event", "recording.completed")
        if kind not in EVENTS:
            return json_response({"error": f"event is one of {', '.join(EVENTS)}"}, 400)
        with self.lock:
            recording = self._visible(payload.get("recording_id", ""))
        if recording is None:
            return error("not_found")
        if kind == "recording.completed" and recording.status != "completed":
            return json_response({"error": f"recording is {recording.status}"}, 409)
        if kind == "recording.stopped" and recording.created_at is None:
            return json_response({"error": "recording has not stopped"}, 409)
        event = self._event(kind, recording)
        delivery_id = self.webhooks.send(event)
        if delivery_id is None:
            return json_response({"error": "no webhook url configured"}, 409)
        return json_response({"delivery_id": delivery_id, "event": event})

    def _knob_add_recording(self, payload: dict) -> Response:
        """A new completed recording, created now; recording.completed goes to the webhook."""
        options = self._recording_options(payload)
        if isinstance(options, Response):
            return options
        channels, duration = payload.get("channels", 1), payload.get("duration", 20)
        if channels not in (1, 2) or type(duration) is not int or duration < 1:
            return json_response({"error": "channels is 1 or 2, duration whole seconds"}, 400)
        with self.lock:
            serial = self._next_serial()
        spec = AudioSpec(options["format"], channels, options["sample_rate"], duration, serial % 8)
        self.audio.get(spec)  # encode before it is announced, outside the lock
        with self.lock:
            now = self.clock.now()
            recording = Recording(
                recording_id=make_id("rec", serial, 0x5EED),
                call_id=payload.get("call_id") or make_id("call", serial, 0xCA11),
                status="completed",
                format=spec.format,
                channels=channels,
                sample_rate=spec.sample_rate,
                started_at=now - duration,
                audio=spec,
                created_at=int(now),
                completed_at=now,
            )
            self.recordings_by_id[recording.recording_id] = recording
            self.by_call.setdefault(recording.call_id, []).append(recording.recording_id)
            insort(self.index, recording.key())
            delivery_id = self.webhooks.send(self._event("recording.completed", recording))
        return json_response({"recording": self._info(recording), "delivery_id": delivery_id}, 201)
