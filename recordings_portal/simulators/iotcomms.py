"""iotcomms SIPRec call recording (shared/vendor-apis/iotcomms-siprec.txt), the REST flavour.

What the document describes, served here:
- POST /callrecording/{domain}/<command> for cancelrecording, deleterecording, stoprecording,
  stopsession, storerecording, startfilerecording, stopfilerecording, startstream, stopstream
  (and mergerecordings, documented only as a queue command), answering {"success": true};
  OPTIONS on each is the documented CORS preflight answering {}.
- Callbacks POSTed to the customer's URL with "Authorization: Bearer <token>": /newCall (its
  recordCall decides), /recordingStarted, /recordingReady, /recordingFailed, /recordingCancelled.
- replyId: an HS256 JWT with the sample's claims; commands are refused when it is not ours, is
  for another domain or names another recording.
- STORERECORDING with modificationParams (trim, beeped masks per party), MERGERECORDINGS by
  startTime with conferenceSegments, temporary recordings expiring with tempRecordingDeleted.

Our readings and additions, where the document is silent:
- "Authorizations:" heads every command with its scheme lost; we require the account's API
  token, as "Authorization: Bearer" or "x-api-key" (the header of API Gateway, which the base
  URL and the SQS/SNS plumbing suggest the vendor runs on).
- A refused command answers 4xx {"success": false, "type", "event", "error"}: the alarm the
  document defines for that command, also published. Alarms are POSTed to <alarm url>/<type>
  (the sample JWT's alarmTopic is its eventTopic, so by default the callback URL).
- Events the document names without a REST body (recordingStored, recordingDeleted, session*,
  stream*, stop*Failed) go to /<camelCase event>, shaped like the documented ones.
- Session mode (the non-legacy SIPRec session, whose start the document does not show) is a
  knob option; streams are acknowledged, never connected.
- Destination buckets are directories served at GET/HEAD/DELETE /bucket/<bucket>/<key> with the
  storage token as Bearer, S3-style (quoted MD5 ETag, XML errors).
- Temporary recordings live 24 h. Control knobs: see control().
Where the document contradicts itself every reading is accepted: modificationParams' units and
shapes (iotcomms_storage.modifications); replyIds from either of the events a command names.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import shutil
import tempfile
import weakref
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from .audio import AudioSpec
from .base import VendorSimulator, route
from .calls import generate_calls
from .http import Request, Response, file_response, json_response, raw_response
from .iotcomms_calls import RECORDING_FAILED, TEMP_RETENTION, CallFlows
from .iotcomms_commands import COMMANDS, Commands, Refused
from .iotcomms_model import (
    DOMAIN,
    Call,
    ReplyIds,
    TempRecording,
    sip_call_id,
    siprec_metadata,
    time_uuid,
)
from .iotcomms_outbox import CALLBACK_TOKEN, Outbox
from .iotcomms_storage import Buckets

API_TOKEN = "iotc_api_3f9e2b7c51d84a06"  # noqa: S105 - a published demo credential
STORAGE_TOKEN = "iotc_s3_b6a0d2e94c7f1385"  # noqa: S105 - a published demo credential
BUCKET = "recordings.portal-demo.example"
SEEDED_TEMP = 3  # finished recordings waiting in temporary storage after a reset
SWEEP_SECONDS = 0.2
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "OPTIONS,POST",
    "Access-Control-Allow-Headers": "Content-Type,Authorization,X-Api-Key",
}
MEDIA_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg", ".opus": "audio/ogg"}


class IotcommsSimulator(Commands, CallFlows, VendorSimulator):
    name = "iotcomms"

    def __init__(self, **options):
        self.workdir = Path(tempfile.mkdtemp(prefix="iotcomms-sim-"))
        weakref.finalize(self, shutil.rmtree, self.workdir, True)
        self.buckets = Buckets(self.workdir / "buckets")
        self.replies = ReplyIds(secrets.token_bytes(32))
        self.outbox = Outbox(self.later)
        super().__init__(**options)
        self._sweep_later(weakref.ref(self))

    def _sweep_later(self, ref) -> None:
        # Holds the simulator weakly, so a closed server's simulator can go away.
        def tick():
            simulator = ref()
            if simulator is None:
                return
            try:
                simulator._sweep()
            finally:
                simulator._sweep_later(ref)

        self.later(SWEEP_SECONDS, tick)

    def reset(self) -> None:
        self.outbox.reset()
        self.buckets.clear()
        for cut in self.workdir.glob("*.mp3"):
            cut.unlink()
        self.rng = random.Random(f"{self.name}:{self.seed}")
        self.calls: dict[str, Call] = {}
        self.temp: dict[str, TempRecording] = {}
        self.call_count = 0
        seeded = generate_calls(
            vendor=self.name,
            seed=self.seed,
            count=min(SEEDED_TEMP, self.recordings),
            now=self.clock.now(),
            days=0.5,  # within the last 12 hours: well inside temporary retention
            formats=("mp3",),
            channels=(2,),
        )
        for call in seeded:
            recording_id = time_uuid(call.started_at, self.rng)
            self.temp[recording_id] = TempRecording(
                recording_id=recording_id,
                session_id=recording_id,
                started_at=call.started_at,
                duration=call.duration,
                ready_at=call.ended_at,
                sip_call_id=sip_call_id(self.rng),
                ssrcs=(self.rng.getrandbits(32), self.rng.getrandbits(32)),
                audio=call.audio,
            )

    def audio_specs(self) -> list:
        return [temp.audio for temp in self.temp.values() if temp.audio]

    def credentials(self) -> dict:
        return {
            "path": "/iotcomms/callrecording",
            # storage_url: the destination bucket's S3-compatible endpoint (GET
            # <storage_url>/<bucket>/<key>), a reference resolved against the account's base
            # URL (urljoin), so a real endpoint's absolute URL works the same.
            "config": {"domain": DOMAIN, "bucket": BUCKET, "storage_url": "/iotcomms/bucket"},
            "secrets": {
                "api_token": API_TOKEN,
                "callback_token": CALLBACK_TOKEN,
                "storage_token": STORAGE_TOKEN,
            },
        }

    # --- control knobs -------------------------------------------------------------------

    def control(self, knob: str, payload: dict) -> Response:
        """callbacks {url, token?, alarm_url?, replay?}: where events go; replay re-sends
        /recordingReady for everything in temporary storage.
        call {caller?, callee?, duration?, channels?, sample_rate?, voice?, fail?, session?,
        related?}: run a call now; it ends when the simulated clock passes its duration.
        temp {}: the temporary recordings with their replyIds."""
        if knob == "callbacks":
            return self._configure_callbacks(payload)
        if knob == "call":
            return self._start_call(payload)
        if knob == "temp":
            with self.lock:
                rows = [self._temp_row(temp) for temp in self.temp.values()]
            return json_response({"recordings": rows})
        return super().control(knob, payload)

    def _configure_callbacks(self, payload: dict) -> Response:
        url = payload.get("url")
        self.outbox.configure(url, payload.get("token") or CALLBACK_TOKEN, payload.get("alarm_url"))
        replayed = []
        if payload.get("replay"):
            with self.lock:
                replayed = list(self.temp.values())
            for temp in replayed:
                self.outbox.run(
                    temp.session_id,
                    lambda t=temp: self.outbox.event("/recordingReady", self._ready_body(t)),
                )
        return json_response({"url": url, "replayed": len(replayed)})

    def _temp_row(self, temp: TempRecording) -> dict:
        return {
            "recordingId": temp.recording_id,
            "replyId": self._reply(temp.recording_id, temp.session_id, temp.started_at),
            "startTime": temp.start_ms,
            "duration": temp.duration,
            "tempKey": temp.key,
            "expiresAt": int((temp.ready_at + TEMP_RETENTION) * 1000),
        }

    def _start_call(self, payload: dict) -> Response:
        duration, channels = payload.get("duration", 12), payload.get("channels", 2)
        rate = payload.get("sample_rate", 8000)
        if not isinstance(duration, int) or not 1 <= duration <= 3600:
            return json_response({"error": "duration: whole seconds, 1 to 3600"}, 400)
        if channels not in (1, 2) or rate not in (8000, 16000):
            return json_response({"error": "channels 1 or 2, sample_rate 8000 or 16000"}, 400)
        fail = payload.get("fail")
        with self.lock:
            now = self.clock.now()
            self.call_count += 1
            session_id = time_uuid(now, self.rng)
            caller = (
                payload.get("caller") or f"+1{self.rng.randint(201, 989)}5550{self.call_count:03d}"
            )
            callee = payload.get("callee") or f"+1415555{2000 + self.call_count % 12:04d}"
            call = Call(
                session_id=session_id,
                recording_id=session_id,
                caller=caller,
                callee=callee,
                started_at=now,
                audio=AudioSpec(
                    "mp3", channels, rate, duration, payload.get("voice", self.call_count % 8)
                ),
                sip_call_id=sip_call_id(self.rng),
                metadata=siprec_metadata(caller, callee, now, self.rng),
                ssrcs=(self.rng.getrandbits(32), self.rng.getrandbits(32)),
                fail=(RECORDING_FAILED if fail is True else str(fail)) if fail else None,
                session_mode=bool(payload.get("session")),
                related=list(payload.get("related") or []),
            )
            self.calls[session_id] = call
        self.outbox.run(session_id, lambda: self._job_setup(call))
        return json_response(
            {
                "recordingId": call.recording_id,
                "sessionId": session_id,
                "sipRecCallId": call.sip_call_id,
                "startTime": int(now * 1000),
            }
        )

    # --- commands ------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        bearer = request.header("Authorization", "")
        return bearer == f"Bearer {API_TOKEN}" or request.header("x-api-key") == API_TOKEN

    @route("OPTIONS", r"/callrecording/(?P<domain>[^/]+)/(?P<command>[a-z]+)")
    def preflight(self, request: Request, domain: str, command: str) -> Response:
        if command not in COMMANDS:
            return self.not_found(request)
        return json_response({}, headers=PREFLIGHT)

    @route("POST", r"/callrecording/(?P<domain>[^/]+)/(?P<command>[a-z]+)")
    def command(self, request: Request, domain: str, command: str) -> Response:
        spec = COMMANDS.get(command)
        if spec is None:
            return self.not_found(request)
        if not self._authorised(request):
            return json_response({"message": "Unauthorized"}, 401, CORS)
        text = request.body.decode("utf-8", "replace")
        body = request.json()
        try:
            claims = self._trusted(body, spec.method, unquote(domain))
            with self.lock:
                response = getattr(self, f"_do_{command}")(body, claims)
        except Refused as refused:
            failure = {"type": spec.alarm, "event": text, "error": refused.error}
            if command == "stopsession" and isinstance(body, dict):
                failure["sessionId"] = body.get("sessionId")
            if refused.notify:
                path, failure = refused.notify
                self.outbox.run("failures", lambda: self.outbox.event(path, failure))
            else:
                self.outbox.run("failures", lambda: self.outbox.alarm(failure))
            return json_response({"success": False, **failure}, refused.status, CORS)
        response.headers.update(CORS)
        return response

    def _trusted(self, body: object, method: str, domain: str) -> dict:
        """The replyId's claims once the body is well formed and the replyId ours and apt."""
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        # The deleterecording sample has no method; when one is sent it must be this command's.
        if body.get("method", method) != method:
            raise Refused(400, f"method must be {method}")
        if not body.get("replyId"):
            raise Refused(400, "replyId is required")
        claims = self.replies.read(body["replyId"])
        if claims is None:
            raise Refused(401, "replyId is not valid")
        if claims.get("domain") != domain:
            raise Refused(403, "replyId is for another domain")
        return claims

    # --- the destination bucket (an S3 stand-in) -----------------------------------------

    @route("GET", r"/bucket/(?P<bucket>[^/]+)/(?P<key>.+)")
    def bucket_get(self, request: Request, bucket: str, key: str) -> Response:
        return self._object(request, unquote(bucket), unquote(key))

    @route("HEAD", r"/bucket/(?P<bucket>[^/]+)/(?P<key>.+)")
    def bucket_head(self, request: Request, bucket: str, key: str) -> Response:
        return self._object(request, unquote(bucket), unquote(key))

    @route("DELETE", r"/bucket/(?P<bucket>[^/]+)/(?P<key>.+)")
    def bucket_delete(self, request: Request, bucket: str, key: str) -> Response:
        found = self._object(request, unquote(bucket), unquote(key))
        if found.status == 200:
            found.body.unlink(missing_ok=True)
            return Response(204)
        return found

    def _object(self, request: Request, bucket: str, key: str) -> Response:
        if request.header("Authorization", "") != f"Bearer {STORAGE_TOKEN}":
            return s3_error(403, "AccessDenied", "Access Denied")
        path = self.buckets.path(bucket, key)
        if path is None or not (self.buckets.root / bucket).is_dir():
            return s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        if not path.is_file():
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False))
        digest = digest.hexdigest()
        if self.faults.wrong_checksum:
            digest = hashlib.md5(digest.encode(), usedforsecurity=False).hexdigest()
        headers = {
            "ETag": f'"{digest}"',
            "Last-Modified": formatdate(path.stat().st_mtime, usegmt=True),
        }
        media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return file_response(path, media_type, headers)


def s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return raw_response(body, status, "application/xml")
