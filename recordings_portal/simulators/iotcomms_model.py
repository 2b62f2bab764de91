"""iotcomms simulator state: calls, temporary recordings, ids, replyId JWTs, SIPRec metadata.

Shapes follow shared/vendor-apis/iotcomms-siprec.txt; see iotcomms.py for what is our own.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jwt

from .audio import AudioSpec

DOMAIN = "sip.portal-demo.iotcomms.io"
REGION = "eu-north-1"
ACCOUNT = "000000000000"
COMMAND_QUEUE = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/iotcomms-sim-snsResponseQueue"
EVENT_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:iotcomms-sim-events"
TEMP_BUCKET = f"recordings.sip.sim-{REGION}.iotcomms.io"
RECORDING_SERVER = "10.85.166.54"
SBC_ADDRESS = "192.0.2.10"  # where participants' SIP AORs point (TEST-NET)
UUID_EPOCH = 0x01B21DD213814000  # 1582-10-15 to 1970-01-01 in 100 ns steps


def time_uuid(epoch: float, rng: random.Random) -> str:
    """A version-1 UUID like the document's recordingIds (83c7a360-cf9c-11ed-...)."""
    ticks = int(epoch * 10_000_000) + UUID_EPOCH
    clock_seq = rng.getrandbits(14)
    return str(
        uuid.UUID(
            fields=(
                ticks & 0xFFFFFFFF,
                (ticks >> 32) & 0xFFFF,
                ((ticks >> 48) & 0x0FFF) | 0x1000,
                (clock_seq >> 8) | 0x80,
                clock_seq & 0xFF,
                rng.getrandbits(48),
            )
        )
    )


def sibling_id(session_id: str, number: int) -> str:
    """File recordings and streams: the session id plus n in its first group (83c7a361-...)."""
    first, rest = session_id.split("-", 1)
    return f"{(int(first, 16) + number) & 0xFFFFFFFF:08x}-{rest}"


def sip_call_id(rng: random.Random) -> int:
    # Documented as a string, sent as a number that has been through a JavaScript double
    # (7260041678961334000): we send it the same way, digits past the 17th zeroed.
    return int(Decimal(repr(float(rng.randrange(10**18, 10**19)))))


def iso_ms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def temp_key(recording_id: str, epoch: float) -> str:
    """<date>-<recordingId>.mp3, the temporary key and the default stored file name."""
    return f"{datetime.fromtimestamp(epoch, UTC):%y%m%d}-{recording_id}.mp3"


@dataclass
class FileRecording:
    recording_id: str
    started_at: float
    reference: object = None  # fileTarget.recordingReferenceId, echoed in events


@dataclass
class Call:
    session_id: str
    recording_id: str  # the legacy recording shares the session's id, as in the samples
    caller: str
    callee: str
    started_at: float
    audio: AudioSpec
    sip_call_id: int
    metadata: str
    ssrcs: tuple[int, int]
    fail: str | None = None
    session_mode: bool = False  # SESSIONSTARTED and file recordings, not recordCall:true
    related: list[str] = field(default_factory=list)
    state: str = "ringing"  # ringing -> active -> ended
    recording: bool = False  # the legacy recording is running
    files: dict[str, FileRecording] = field(default_factory=dict)
    streams: dict[str, object] = field(default_factory=dict)  # streamId -> streamReferenceId
    siblings: int = 0

    @property
    def ends_at(self) -> float:
        return self.started_at + self.audio.duration

    def next_id(self) -> str:
        self.siblings += 1
        return sibling_id(self.session_id, self.siblings)


@dataclass
class TempRecording:
    recording_id: str
    session_id: str
    started_at: float
    duration: float
    ready_at: float
    sip_call_id: int
    ssrcs: tuple[int, int]
    audio: AudioSpec | None = None  # the call's whole audio, from the library ...
    path: Path | None = None  # ... or a cut of it written by the simulator
    reference: object = None
    related: list[dict] = field(default_factory=list)

    @property
    def start_ms(self) -> int:
        return int(self.started_at * 1000)

    @property
    def key(self) -> str:
        return temp_key(self.recording_id, self.started_at)


class ReplyIds:
    """replyId: an HS256 JWT with the claims of the document's samples, plus sessionId."""

    def __init__(self, secret: bytes):
        self.secret = secret

    def issue(self, *, recording_id: str, session_id: str, started_at: float, now: float) -> str:
        claims = {
            "domain": DOMAIN,
            "recordingId": recording_id,
            "sessionId": session_id,  # ours: session commands name the session, not the recording
            "controlIp": RECORDING_SERVER,
            "recordingServer": RECORDING_SERVER,
            "serviceDiscoveryTable": "iotcomms-sim-serviceData",
            "commandQueue": COMMAND_QUEUE,
            "eventTopic": EVENT_TOPIC,
            # The sample's alarmTopic is its eventTopic: alarms travel with the events.
            "alarmTopic": EVENT_TOPIC,
            "tempBucket": TEMP_BUCKET,
            "tempKey": temp_key(recording_id, started_at),
            "iat": int(now),
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def read(self, token: object) -> dict | None:
        """The claims, or None when the token is not one we signed."""
        if not isinstance(token, str):
            return None
        try:
            # iat comes from the simulated clock, which tests move ahead of the wall clock.
            return jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"verify_iat": False}
            )
        except jwt.InvalidTokenError:
            return None


def siprec_metadata(caller: str, callee: str, started_at: float, rng: random.Random) -> str:
    """The SIPRec metadata XML in the layout of the document's sample (CRLF, one space indent)."""

    def tag() -> str:
        return base64.b64encode(rng.randbytes(16)).decode()

    session, start = tag(), iso_ms(started_at)
    parties = [(tag(), caller, tag(), "1"), (tag(), callee, tag(), "2")]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<recording xmlns="urn:ietf:params:xml:ns:recording:1">',
        " <datamode>complete</datamode>",
        f' <session session_id="{session}">',
        f"  <start-time>{start}</start-time>",
        " </session>",
    ]
    for participant, number, stream, label in parties:
        lines += [
            f' <participant participant_id="{participant}">',
            f'  <nameID aor="sip:{number}@{SBC_ADDRESS}">',
            f'   <name xml:lang="en">{number}</name>',
            "  </nameID>",
            " </participant>",
            f' <participantsessionassoc participant_id="{participant}" session_id="{session}">',
            f"  <associate-time>{start}</associate-time>",
            " </participantsessionassoc>",
            f' <stream stream_id="{stream}" session_id="{session}">',
            f"  <label>{label}</label>",
            " </stream>",
        ]
    for index, (participant, *_rest) in enumerate(parties):
        sends, hears = parties[index][2], parties[1 - index][2]
        lines += [
            f' <participantstreamassoc participant_id="{participant}">',
            f"  <send>{sends}</send>",
            f"  <recv>{hears}</recv>",
            " </participantstreamassoc>",
        ]
    lines.append(" </recording>")
    return "\r\n".join(lines) + "\r\n"


def parts_info(start_ms: int, ssrcs: tuple[int, int]) -> str:
    """recordingReady's meta: a JavaScript object literal (unquoted keys) inside a string,
    laid out byte for byte as the document's sample; it is not JSON."""
    caller, callee = ssrcs
    return (
        "{\nrecordingsPartsInfo: {\n"
        f"callerStreams: [\n{{\nstart: {start_ms},\nssrc: {caller}\n}}\n],\n"
        f"calleeStreams: [\n{{\nstart: {start_ms},\nssrc: {callee}\n}}\n]\n"
        "}\n}"
    )
