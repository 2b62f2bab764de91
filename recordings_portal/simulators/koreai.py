"""Kore.ai SmartAssist (shared/vendor-apis/koreai-smartassist.txt): Fetch Call Recording (v2).

Served as the document has it: `GET /api/public/bot/<botId>/v2/recordings?sessionId=` with an
`auth: <JWT>` header, answering `{"status": ..., "recording": [{"fileName", "fileUrl"}]}` where
fileName is `<sessionId>-merged.wav` and fileUrl a getMediaStream link with expiry parameters
e, n, s; the four documented statuses success, media_unavailable, call_in_progress and
media_in_progress, all with HTTP 200 (the status field is the answer, as the document reads).

Document quirks we accept:
- userId is listed as required but the sample request omits it: both are served; a userId that
  is not the session's user finds no recording (media_unavailable), as a lookup by both would.

Our own additions (the document does not describe them):
- the JWT: HS256, signed with the app's client secret, claim appId equal to the client id;
  anything else is 401 `{"errors": [{"msg", "code"}]}`. `exp` is checked against the wall clock,
  not the simulated one: the client mints the token from its own clock;
- an unknown sessionId is media_unavailable (nothing recorded under it); a missing one is 400;
  an unknown botId 404;
- sessions move call_in_progress -> media_in_progress -> success with the simulated clock (media
  is ready MEDIA_DELAY after the call ends), or at once on `POST /_control/koreai/advance
  {"sessionId": ...}` (no sessionId: all of them); a call finished early by the knob is re-timed
  to end now, so its start and end times keep matching its audio;
- `DELETE` on the recordings URL deletes a session's recordings (afterwards media_unavailable,
  and links already handed out answer 404); 409 while the call or media is in progress;
- fileUrl links live LINK_TTL seconds; expired or tampered ones answer 403;
- `POST /agentassist/api/public/analytics/account/<accountId>/v2/callDetails` lists sessions for
  discovery: JSON startDate/endDate (ISO 8601 or a plain date; startDate inclusive, endDate
  exclusive, a plain-date endDate includes that day) at most 7 days apart; limit 1-100 and
  offset 0-10, where offset counts pages of `limit` rows, so one window yields at most 1,100 rows
  and a client must narrow busier windows; rows oldest first with `total` and `hasMore`;
- the media is a stereo WAV (caller left, agent right), 8 kHz: "merged" legs.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import jwt

from .audio import AudioSpec
from .base import VendorSimulator, route
from .calls import SimCall, generate_calls
from .http import Request, Response, file_response, json_response

BOT_ID = "st-fd81a2b1-43af-544d-8082-831bc09c4e27"
ORG_ID = "o-ddda92ea-9174-5c0d-8938-4b5f13ab61c0"
ACCOUNT_ID = "65f1c0a93be2d7001e4b8c21"
CLIENT_ID = "cs-7b3e9d2a-5c41-5f8e-a6d0-1f2e3c4b5a69"
# The simulated app's secret: public on purpose, like every simulator credential.
CLIENT_SECRET = "pQ7vYtR2kZ9wXb4nLm8sHc3fJd6gAe1uKo5iTy0rWqE="  # noqa: S105
ENVIRONMENT = "PROD"

LINK_TTL = 3600  # seconds a fileUrl stays valid
MEDIA_DELAY = 300  # seconds from the end of a call to its media being ready
LIVE_CALL = AudioSpec(format="wav", channels=2, sample_rate=8000, duration=240)
MAX_WINDOW = timedelta(days=7)
MAX_LIMIT = 100
MAX_OFFSET = 10


@dataclass
class Session:
    session_id: str
    user_id: str
    call: SimCall
    recorded: bool
    ready_at: float  # when the media is ready (after the call ends)
    file_key: str  # the getMediaStream path below /api/getMediaStream/
    deleted: bool = False

    def status(self, now: float) -> str:
        if now < self.call.ended_at:
            return "call_in_progress"
        if not self.recorded or self.deleted:
            return "media_unavailable"
        if now < self.ready_at:
            return "media_in_progress"
        return "success"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_date(value, *, end: bool) -> datetime | None:
    """ISO 8601 instant or plain date; a plain-date end means the end of that day."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def small_int(value, default: int) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def error(message: str, status: int) -> Response:
    return json_response({"errors": [{"msg": message, "code": status}]}, status)


class KoreaiSimulator(VendorSimulator):
    name = "koreai"
    bot_id = BOT_ID
    account_id = ACCOUNT_ID
    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    def reset(self) -> None:
        now = self.clock.now()
        calls = generate_calls(
            vendor=self.name,
            seed=self.seed,
            count=self.recordings,
            now=now,
            formats=("wav",),
            channels=(2,),
            rates=(8000,),
        )
        rng = random.Random(f"{self.name}-sessions:{self.seed}")
        # Two calls of today: one still on the line, one whose media is being generated.
        live = [
            SimCall(len(calls), now - 60, "+14155552003", "+12125550147", "outbound", LIVE_CALL),
            SimCall(
                len(calls) + 1, now - 300, "+16465550188", "+14155552007", "inbound", LIVE_CALL
            ),
        ]
        self.sessions: dict[str, Session] = {}
        self.by_key: dict[str, Session] = {}
        for call in calls + live:
            session_id = rng.randbytes(16).hex()
            day = datetime.fromtimestamp(call.started_at, UTC)
            key = (
                f"smartassistrecording/{ENVIRONMENT}/{ORG_ID}/{self.bot_id}/"
                f"{day:%Y}/{day:%d-%m-%Y}/f-{uuid.UUID(int=rng.getrandbits(128), version=4)}.wav"
            )
            session = Session(
                session_id=session_id,
                user_id=f"u-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                call=call,
                # Some calls of the history were never recorded.
                recorded=call.index >= len(calls) or call.index % 5 != 3,
                ready_at=call.ended_at + MEDIA_DELAY,
                file_key=key,
            )
            self.sessions[session_id] = session
            self.by_key[key] = session

    def credentials(self) -> dict:
        return {
            "path": f"/{self.name}",
            "config": {
                "bot_id": self.bot_id,
                "account_id": self.account_id,
                "client_id": self.client_id,
            },
            "secrets": {"client_secret": self.client_secret},
        }

    def audio_specs(self) -> list:
        return sorted({s.call.audio for s in self.sessions.values() if s.recorded}, key=str)

    def control(self, knob: str, payload: dict) -> Response:
        if knob != "advance":
            return super().control(knob, payload)
        now = self.clock.now()
        with self.lock:
            wanted = payload.get("sessionId")
            if wanted is not None and wanted not in self.sessions:
                return json_response({"error": f"unknown sessionId {wanted!r}"}, 404)
            chosen = [self.sessions[wanted]] if wanted else list(self.sessions.values())
            advanced = []
            for session in chosen:
                if session.status(now) not in ("call_in_progress", "media_in_progress"):
                    continue
                if session.call.ended_at > now:
                    session.call = replace(session.call, started_at=now - session.call.duration)
                session.ready_at = now
                advanced.append(session.session_id)
        return json_response({"advanced": advanced})

    def _refused(self, request: Request) -> Response | None:
        """401 unless the auth header is an HS256 JWT of our client secret naming our app."""
        token = request.header("auth")
        if not token:
            return error("Missing auth token", 401)
        try:
            claims = jwt.decode(
                token,
                self.client_secret,
                algorithms=["HS256"],
                options={"require": ["appId"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            return error("Auth token expired", 401)
        except jwt.PyJWTError:
            return error("Failed to authenticate token", 401)
        if claims["appId"] != self.client_id:
            return error("Failed to authenticate token: unknown appId", 401)
        return None

    # --- recordings --------------------------------------------------------------------------

    def _session_for(self, request: Request, bot_id: str) -> tuple[Session | None, Response | None]:
        refused = self._refused(request)
        if refused:
            return None, refused
        if bot_id != self.bot_id:
            return None, error(f"Bot {bot_id} not found", 404)
        session_id = request.arg("sessionId")
        if not session_id:
            return None, error("sessionId is required", 400)
        session = self.sessions.get(session_id)
        user_id = request.arg("userId")
        if session and user_id and user_id != session.user_id:
            session = None
        return session, None

    @route("GET", r"/api/public/bot/(?P<bot_id>[^/]+)/v2/recordings")
    def fetch_recordings(self, request: Request, bot_id: str) -> Response:
        with self.lock:
            session, refused = self._session_for(request, bot_id)
            if refused:
                return refused
            status = session.status(self.clock.now()) if session else "media_unavailable"
            if status != "success":
                return json_response({"status": status})
            url = self._sign(request.base_url, session.file_key)
        file_name = f"{session.session_id}-merged.wav"
        return json_response(
            {"status": status, "recording": [{"fileName": file_name, "fileUrl": url}]}
        )

    @route("DELETE", r"/api/public/bot/(?P<bot_id>[^/]+)/v2/recordings")
    def delete_recordings(self, request: Request, bot_id: str) -> Response:
        with self.lock:
            session, refused = self._session_for(request, bot_id)
            if refused:
                return refused
            status = session.status(self.clock.now()) if session else "media_unavailable"
            if status == "media_unavailable":
                return json_response({"status": status}, 404)
            if status != "success":
                return json_response({"status": status}, 409)
            session.deleted = True
        return json_response({"status": "deleted", "sessionId": session.session_id})

    def _sign(self, base_url: str, key: str) -> str:
        path = f"/api/getMediaStream/{key}"
        now = self.clock.now()
        if self.faults.expire_links:
            now -= LINK_TTL + 60
        params = self.signer.sign(path, LINK_TTL, now=now)
        return f"{base_url}{path}?e={params['e']}&n={params['n']}&s={params['s']}"

    @route("GET", r"/api/getMediaStream/(?P<key>.+)")
    def media(self, request: Request, key: str) -> Response:
        params = {name: request.arg(name, "") for name in ("e", "n", "s")}
        verdict = self.signer.check(request.path, params, now=self.clock.now())
        if verdict == "expired":
            return error("Link expired", 403)
        if verdict:
            return error("Invalid signature", 403)
        with self.lock:
            session = self.by_key.get(key)
            if session is None or session.deleted:
                return error("Media not found", 404)
        audio = self.audio.get(session.call.audio)
        return file_response(audio.path, audio.content_type)

    # --- discovery ---------------------------------------------------------------------------

    @route(
        "POST",
        r"/agentassist/api/public/analytics/account/(?P<account_id>[^/]+)/v2/callDetails",
    )
    def call_details(self, request: Request, account_id: str) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        if account_id != self.account_id:
            return error(f"Account {account_id} not found", 404)
        body = request.json()
        if not isinstance(body, dict):
            return error("The request body must be a JSON object", 400)
        start = parse_date(body.get("startDate"), end=False)
        end = parse_date(body.get("endDate"), end=True)
        if start is None or end is None:
            return error("startDate and endDate are required (ISO 8601 or YYYY-MM-DD)", 400)
        if end <= start:
            return error("endDate must be after startDate", 400)
        if end - start > MAX_WINDOW:
            return error("startDate and endDate can be at most 7 days apart", 400)
        limit, offset = small_int(body.get("limit"), MAX_LIMIT), small_int(body.get("offset"), 0)
        if limit is None or not 1 <= limit <= MAX_LIMIT:
            return error(f"limit must be 1 to {MAX_LIMIT}", 400)
        if offset is None or not 0 <= offset <= MAX_OFFSET:
            return error(f"offset must be 0 to {MAX_OFFSET} (pages of limit rows)", 400)
        lo, hi, now = start.timestamp(), end.timestamp(), self.clock.now()
        with self.lock:
            found = sorted(
                (s for s in self.sessions.values() if lo <= s.call.started_at < hi),
                key=lambda s: (s.call.started_at, s.session_id),
            )
            page = found[offset * limit : (offset + 1) * limit]
            rows = [self._row(session, now) for session in page]
        return json_response(
            {
                "total": len(found),
                "limit": limit,
                "offset": offset,
                "hasMore": (offset + 1) * limit < len(found),
                "data": rows,
            }
        )

    def _row(self, session: Session, now: float) -> dict:
        call = session.call
        ended = call.ended_at <= now
        return {
            "sessionId": session.session_id,
            "userId": session.user_id,
            "direction": call.direction,
            "caller": call.caller,
            "callee": call.callee,
            "startTime": iso(call.started_at),
            "endTime": iso(call.ended_at) if ended else None,
            "duration": call.duration if ended else None,
        }
