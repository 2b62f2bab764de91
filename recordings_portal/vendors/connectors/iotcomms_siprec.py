"""What iotcomms' callbacks say about a call: SIPRec metadata, recording parts, replyId claims.

Document quirks handled:
- recordingReady's `meta` is a JavaScript object literal (unquoted keys) inside a string, not
  JSON: its keys are quoted before parsing; JSON or an object is accepted as well.
- SIPRec metadata (RFC 7865) does not say who called whom: the participants are read in
  document order, the first as the caller, as in the document's sample (stream label 1).
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from ..recording_policy import Party

log = logging.getLogger(__name__)

JS_KEY = re.compile(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:")


@dataclass(frozen=True)
class Siprec:
    addresses: tuple[str, ...] = ()  # participants' AORs, in document order
    started_at: datetime | None = None
    session_id: str = ""


def read_siprec(document: object) -> Siprec:
    """Participants and start of a SIPRec metadata document; empty when it cannot be read.

    ElementTree on expat >= 2.4 resolves no external entities and caps entity expansion, and
    the webhook endpoint caps the body's size, so a hostile document costs little.
    """
    if not isinstance(document, str) or not document.strip():
        return Siprec()
    try:
        root = ET.fromstring(document.strip().encode())  # noqa: S314 - see the docstring
    except ET.ParseError:
        log.warning("iotcomms SIPRec metadata is not XML; participants unknown")
        return Siprec()

    def local(element) -> str:
        return element.tag.rsplit("}", 1)[-1]

    addresses, started, session = [], None, ""
    for element in root.iter():
        tag = local(element)
        if tag == "participant":
            found = next((e for e in element.iter() if local(e) == "nameID"), None)
            aor = found.get("aor", "") if found is not None else ""
            name = next((e.text for e in element.iter() if local(e) in ("aor", "name")), "")
            if aor or name:
                addresses.append(aor or (name or "").strip())
        elif tag == "session" and not session:
            session = element.get("session_id", "")
        elif tag == "start-time" and started is None:
            started = parse_time(element.text)
    return Siprec(tuple(addresses), started, session)


def parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def from_ms(value: object) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def shown(address: str) -> str:
    """What the catalog shows and searches: the number, else user@domain."""
    party = Party.parse(address)
    if party.number:
        return party.number
    return f"{party.user}@{party.host}" if party.host else party.user


def read_parts(meta: object) -> dict:
    """recordingsPartsInfo ({callerStreams: [{start, ssrc}], calleeStreams: [...]}) or {}."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            try:
                meta = json.loads(JS_KEY.sub(r'\1"\2":', meta))
            except ValueError:
                log.warning("iotcomms recordingReady meta could not be read")
                return {}
    if not isinstance(meta, dict):
        return {}
    parts = meta.get("recordingsPartsInfo", meta)
    return parts if isinstance(parts, dict) else {}


def earliest_start(parts: dict) -> int | None:
    starts = [
        stream.get("start")
        for streams in parts.values()
        if isinstance(streams, list)
        for stream in streams
        if isinstance(stream, dict)
    ]
    starts = [s for s in starts if isinstance(s, int) and not isinstance(s, bool)]
    return min(starts) if starts else None


def reply_claims(reply_id: str) -> dict:
    """The replyId JWT's claims (tempBucket, tempKey), unverified: it is iotcomms' own token,
    signed with a key the portal does not have, and only informs what the row shows."""
    try:
        claims = jwt.decode(reply_id, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return {k: claims[k] for k in ("tempBucket", "tempKey") if isinstance(claims.get(k), str)}
