"""iotcomms callbacks, verified and reduced to VendorEvents (see iotcomms.py for the commands).

The customer sets https://<portal>/hooks/<account public id> as iotcomms' callback URL; iotcomms
POSTs /newCall, /recordingStarted, /recordingReady, /recordingFailed and /recordingCancelled
below it with "Authorization: Bearer <callback token>". The document's sample replyId has the
alarmTopic equal to the eventTopic, so alarms are read as arriving the same way, at /<type>.

Document quirks handled:
- sipRecCallId is documented as a string and sampled as a number that has been through a
  JavaScript double (7260041678961334000): kept as the text it arrives as.
- the samples of /newCall and /recordingReady have no "event" field: the path names the event,
  the body's "event" only when the path is not one we know.
- /recordingFailed receives both the documented event (RECORDINGFAILED, no reason) and the
  recordingFailed alarm (type, error): both mark the row gone; the alarm carries the reason.
- RECORDINGREADY's startTime is named only in the MERGERECORDINGS section; when it is missing the
  earliest stream start in `meta` stands in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable

from ..recording_policy import PolicyInvalid, decide, policy_from_config
from .base import InvalidEvent, RemoteRecording, VendorEvent
from .iotcomms_siprec import earliest_start, from_ms, read_parts, read_siprec, reply_claims, shown

log = logging.getLogger(__name__)

# The recordingId check() sends; the alarm its refused command raises is not news.
CHECK_RECORDING_ID = "recordings-portal-connection-check"
RECORDING_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The alarms of the commands the portal sends (the others are about someone else's commands).
PORTAL_COMMAND_ALARMS = {"storeRecordingError", "deleteRecordingError", "cancelRecordingError"}


def parse(path: str, headers: dict[str, str], body: bytes, *, secrets, config) -> VendorEvent:
    authenticate(headers, secrets.get("callback_token", ""))
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidEvent("The body is not JSON.", status=400) from exc
    if not isinstance(payload, dict):
        raise InvalidEvent("The body must be a JSON object.", status=400)
    if isinstance(payload.get("type"), str) and payload["type"]:
        return alarm(payload, body)
    name = path.strip("/").rsplit("/", 1)[-1] or str(payload.get("event") or "")
    key = name.lower()
    if key not in KNOWN:
        key = str(payload.get("event") or "").lower()
    if key == "newcall":
        return new_call(payload, config)
    if key in ROW_EVENTS:
        return ROW_EVENTS[key](payload)
    return ignored(name, payload, body)


def authenticate(headers: dict[str, str], token: str) -> None:
    given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, credentials = given.partition(" ")
    if not token:
        raise InvalidEvent(
            "The account has no callback bearer token; set the one iotcomms sends.", status=401
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        raise InvalidEvent("Missing or wrong bearer token.", status=401)


def recording_id(payload: dict) -> str:
    value = payload.get("recordingId")
    if not isinstance(value, str) or not RECORDING_ID.fullmatch(value):
        raise InvalidEvent("recordingId is missing or malformed.", status=400)
    return value


def compact(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


def as_text(value) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


# --- events ------------------------------------------------------------------------------


def new_call(payload: dict, config: dict) -> VendorEvent:
    """Answer at once from the account's recording policy; no row until recordingStarted."""
    rid = recording_id(payload)
    siprec = read_siprec(payload.get("metaData"))
    caller, callee = (*siprec.addresses, "", "")[:2]
    others = list(siprec.addresses[2:])
    problem = ""
    try:
        record = decide(policy_from_config(config), caller, callee, {"participants": others})
    except PolicyInvalid as exc:
        # The admin's policy cannot be known: not recording is the choice that can be undone
        # by fixing it, recording against a "none" could not.
        record, problem = False, f"Calls are not recorded: the recording policy is invalid. {exc}"
    log.info("iotcomms newCall %s: recordCall=%s", rid, record)
    return VendorEvent(f"newCall:{rid}", reply={"recordCall": record}, alarm=problem)


def recording_started(payload: dict) -> VendorEvent:
    rid = recording_id(payload)
    siprec = read_siprec(payload.get("metaData"))
    parties = [shown(address) for address in siprec.addresses]
    metadata = {
        "domain": payload.get("domain"),
        "startedReplyId": payload.get("replyId"),
        "sessionId": payload.get("sessionId"),
        "recordingReferenceId": payload.get("recordingReferenceId"),
    }
    recording = RemoteRecording(
        external_id=rid,
        vendor_call_id=as_text(payload.get("sipRecCallId")),
        started_at=siprec.started_at,
        caller=parties[0] if parties else "",
        callee=parties[1] if len(parties) > 1 else "",
        participants=tuple(parties),
        format="mp3",
        ready=False,
        vendor_state="recording",
        metadata=compact(metadata),
    )
    return VendorEvent(f"recordingStarted:{rid}", recording=recording)


def recording_ready(payload: dict) -> VendorEvent:
    rid = recording_id(payload)
    reply = payload.get("replyId")
    if not isinstance(reply, str) or not reply:
        raise InvalidEvent("replyId is missing: the recording could not be stored.", status=400)
    parts = read_parts(payload.get("meta"))
    start = payload.get("startTime")
    start = start if isinstance(start, int) and not isinstance(start, bool) else None
    start = start or earliest_start(parts)
    metadata = {
        "replyId": reply,
        **reply_claims(reply),
        "startTime": start,
        "parts": parts,
        "sipRecCallId": as_text(payload.get("sipRecCallId")),
        "domain": payload.get("domain"),
        "sessionId": payload.get("sessionId"),
        "recordingReferenceId": payload.get("recordingReferenceId"),
        "relatedRecordings": payload.get("relatedRecordings"),
    }
    recording = RemoteRecording(
        external_id=rid,
        vendor_call_id=as_text(payload.get("sipRecCallId")),
        started_at=from_ms(start),
        format="mp3",
        ready=True,
        vendor_state="ready",
        metadata=compact(metadata),
    )
    return VendorEvent(f"recordingReady:{rid}", recording=recording)


def gone(rid: str, state: str, reason: str, **metadata) -> RemoteRecording:
    return RemoteRecording(
        external_id=rid,
        vendor_state=state,
        ready=False,
        gone=True,
        gone_reason=reason,
        metadata=compact(metadata),
    )


def recording_failed(payload: dict) -> VendorEvent:
    rid = recording_id(payload)
    reason = "iotcomms reported that the recording failed; it holds no audio."
    return VendorEvent(
        f"recordingFailed:{rid}",
        recording=gone(rid, "failed", reason),
        alarm=f"iotcomms could not record call {rid}.",
    )


def recording_cancelled(payload: dict) -> VendorEvent:
    rid = recording_id(payload)
    reason = "The recording was cancelled at iotcomms (CANCELRECORDING); its files were deleted."
    return VendorEvent(f"recordingCancelled:{rid}", recording=gone(rid, "cancelled", reason))


def alarm(payload: dict, body: bytes) -> VendorEvent:
    kind, error = payload["type"], str(payload.get("error") or payload.get("errorDetails") or "")
    rid = payload.get("recordingId") if isinstance(payload.get("recordingId"), str) else ""
    rid = rid if RECORDING_ID.fullmatch(rid or "") else ""
    delivery = f"alarm:{kind}:{rid or digest(body)}"[:200]
    detail = f": {error}" if error else "."
    if kind in PORTAL_COMMAND_ALARMS and (
        CHECK_RECORDING_ID in str(payload.get("event", "")) or "not found" in error.lower()
    ):
        # The answer to one of the portal's own commands (the connection check, deleting a
        # copy already gone), which the command's reply already told the portal.
        log.info("iotcomms alarm %s accepted without changes%s", kind, detail)
        return VendorEvent(delivery)
    if kind == "recordingFailed" and rid:
        reason = f"iotcomms could not record the call{detail}"
        return VendorEvent(
            delivery,
            recording=gone(rid, "failed", reason, error=error),
            alarm=f"iotcomms could not record call {rid}{detail}",
        )
    if kind == "tempStorageError" and rid:
        reason = f"iotcomms could not keep the recording in its temporary storage{detail}"
        return VendorEvent(
            delivery,
            recording=gone(rid, "failed", reason, error=error),
            alarm=f"iotcomms could not keep recording {rid} in temporary storage{detail}",
        )
    if kind == "tempRecordingDeleted" and rid:
        reason = "iotcomms deleted the recording from its temporary storage before it was stored."
        return VendorEvent(
            delivery,
            recording=gone(rid, "expired", reason, error=error),
            alarm=(
                f"iotcomms deleted recording {rid} from temporary storage when it expired"
                f"{detail} If the portal had not downloaded it yet, it is lost."
            ),
        )
    if kind == "apiRequestError":
        status = f" ({payload.get('statusCode')} {payload.get('statusMessage') or ''})".rstrip()
        return VendorEvent(
            delivery,
            alarm=(
                f"iotcomms could not ask the portal whether to record call {rid or '?'}"
                f"{status}; that call may not have been recorded."
            ),
        )
    if kind == "eventNotificationError":
        return VendorEvent(delivery, alarm=f"iotcomms could not deliver an event{detail}")
    return VendorEvent(delivery, alarm=f"iotcomms alarm {kind}{detail}")


def ignored(name: str, payload: dict, body: bytes) -> VendorEvent:
    """Events the portal has nothing to do with (recordingStored, sessions, streams): a 2xx,
    so iotcomms raises no eventNotificationError, and nothing changes."""
    rid = payload.get("recordingId") or payload.get("sessionId")
    log.info("iotcomms event %s for %s accepted without changes", name or "(unnamed)", rid)
    key = rid if isinstance(rid, str) and RECORDING_ID.fullmatch(rid) else digest(body)
    return VendorEvent(f"{name[:40] or 'event'}:{key}:{digest(body)[:12]}")


ROW_EVENTS: dict[str, Callable[[dict], VendorEvent]] = {
    "recordingstarted": recording_started,
    "recordingready": recording_ready,
    "recordingfailed": recording_failed,
    "recordingcancelled": recording_cancelled,
}
KNOWN = {"newcall", *ROW_EVENTS}
