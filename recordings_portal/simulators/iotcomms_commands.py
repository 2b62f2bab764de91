"""The iotcomms commands (POST /callrecording/{domain}/<command>), once the request is trusted.

Each _do_<command> runs under the simulator's lock with the JSON body and the replyId's claims,
changes state, queues the background work and returns the answer, or raises Refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .http import Response, json_response
from .iotcomms_model import COMMAND_QUEUE, DOMAIN, REGION, Call, FileRecording
from .iotcomms_storage import ParamsError, modifications

MISMATCH = "recordingId does not match eventId"  # the document's wording, sessions included


@dataclass(frozen=True)
class Spec:
    method: str  # the body's "method"
    alarm: str  # the alarm type a failure raises


COMMANDS = {
    "cancelrecording": Spec("CANCELRECORDING", "cancelRecordingError"),
    "deleterecording": Spec("DELETERECORDING", "deleteRecordingError"),
    "stoprecording": Spec("STOPRECORDING", "stopRecordingError"),
    "stopsession": Spec("STOPSESSION", "stopSessionError"),
    "storerecording": Spec("STORERECORDING", "storeRecordingError"),
    # The document defines no alarm for these five; ours follow the same naming.
    "mergerecordings": Spec("MERGERECORDINGS", "mergeRecordingsError"),
    "startfilerecording": Spec("STARTFILERECORDING", "startFileRecordingError"),
    "stopfilerecording": Spec("STOPFILERECORDING", "stopFileRecordingError"),
    "startstream": Spec("STARTSTREAM", "startStreamError"),
    "stopstream": Spec("STOPSTREAM", "stopStreamError"),
}


@dataclass
class Refused(Exception):
    status: int
    error: str
    # A documented failure event (path, body) to send instead of the command's alarm.
    notify: tuple[str, dict] | None = None
    extra: dict = field(default_factory=dict)


def ok(**extra) -> Response:
    return json_response({**extra, "success": True})


class Commands:
    """Mixed into IotcommsSimulator, beside CallFlows."""

    def _recording_id(self, body: dict, claims: dict) -> str:
        recording_id = body.get("recordingId")
        if not isinstance(recording_id, str) or not recording_id:
            raise Refused(400, "recordingId is required")
        if recording_id != claims.get("recordingId"):
            raise Refused(400, MISMATCH)
        return recording_id

    def _session(self, body: dict, claims: dict) -> Call:
        session_id = body.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise Refused(400, "sessionId is required")
        if session_id != claims.get("sessionId"):
            raise Refused(400, MISMATCH)
        call = self.calls.get(session_id)
        if call is None or call.state != "active":
            raise Refused(404, "sessionId not found")
        return call

    def _live_recording(self, recording_id: str) -> Call:
        for call in self.calls.values():
            if call.recording_id == recording_id and call.recording and call.state == "active":
                return call
        raise Refused(404, "recordingId not found")

    def _temp(self, recording_id: str):
        temp = self.temp.get(recording_id)
        if temp is None:
            raise Refused(404, "recordingId not found")
        return temp

    def _failure_event(self, path: str, event: str, call: Call, error: str, **ids) -> tuple:
        """STOPFILERECORDINGFAILED and STOPSTREAMFAILED, documented events rather than alarms."""
        body = {"event": event, "sessionId": call.session_id, **ids, "domain": DOMAIN}
        body["replyId"] = self._reply(call.recording_id, call.session_id, call.started_at)
        body |= {"commandQueue": COMMAND_QUEUE, "commandRegion": REGION, "error": error}
        return path, body

    # --- recordings ----------------------------------------------------------------------

    def _do_stoprecording(self, body: dict, claims: dict) -> Response:
        call = self._live_recording(self._recording_id(body, claims))
        call.state = "ended"
        now = self.clock.now()
        self.outbox.run(call.session_id, lambda: self._job_hang_up(call, now))
        return ok()

    def _do_cancelrecording(self, body: dict, claims: dict) -> Response:
        call = self._live_recording(self._recording_id(body, claims))
        call.state, call.recording = "ended", False
        event = self._envelope(
            "RECORDINGCANCELLED",
            call.recording_id,
            call.session_id,
            call.started_at,
            metaData=call.metadata,
        )
        self.outbox.run(call.session_id, lambda: self.outbox.event("/recordingCancelled", event))
        return ok()

    def _do_storerecording(self, body: dict, claims: dict) -> Response:
        temp = self._temp(self._recording_id(body, claims))
        # <date>-<recordingId>.mp3 as the REST section says (the queue section's ".mp3" has lost
        # its placeholder). destinationRegion and encryptionKey are accepted and have no effect.
        file_name = body.get("fileName") or temp.key
        target = self._target(body.get("destinationBucket"), file_name)
        try:
            edits = modifications(
                body.get("modificationParams"), start_ms=temp.start_ms, duration=temp.duration
            )
        except ParamsError as exc:
            raise Refused(400, f"invalid modificationParams: {exc}") from exc
        command = {**body, "fileName": file_name}
        self.outbox.run(temp.session_id, lambda: self._job_store(temp, target, edits, command))
        return ok()

    def _do_deleterecording(self, body: dict, claims: dict) -> Response:
        temp = self._temp(self._recording_id(body, claims))
        del self.temp[temp.recording_id]
        self.outbox.run(temp.session_id, lambda: self._job_deleted(temp))
        return ok()

    def _do_mergerecordings(self, body: dict, claims: dict) -> Response:
        entries = body.get("toMerge")
        if not isinstance(entries, list) or not entries:
            raise Refused(400, "toMerge must be a non-empty array")
        parts, exclusive = [], set()
        for entry in entries:
            start = entry.get("startTime") if isinstance(entry, dict) else None
            if not isinstance(start, int | float) or isinstance(start, bool):
                raise Refused(400, "every toMerge entry needs a recordingId and a startTime")
            parts.append((self._temp(entry.get("recordingId")), start / 1000))
            try:
                for segment in entry.get("conferenceSegments") or []:
                    exclusive.add((segment["startTime"] / 1000, segment["endTime"] / 1000))
            except (TypeError, KeyError) as exc:
                raise Refused(400, "conferenceSegments need startTime and endTime") from exc
        main = next((t for t, _ in parts if t.recording_id == claims.get("recordingId")), None)
        if main is None:
            raise Refused(400, MISMATCH)
        file_name = body.get("fileName") or f"merged-{main.key}"
        target = self._target(body.get("destinationBucket"), file_name)
        command = {**body, "fileName": file_name}
        spans = sorted(exclusive)
        self.outbox.run(
            main.session_id, lambda: self._job_merge(main, parts, spans, target, command)
        )
        return ok()

    def _target(self, bucket: object, file_name: object):
        if not isinstance(bucket, str) or not bucket:
            raise Refused(400, "destinationBucket is required")
        target = self.buckets.path(bucket, file_name) if isinstance(file_name, str) else None
        if target is None:
            raise Refused(400, "invalid destinationBucket or fileName")
        return target

    # --- sessions ------------------------------------------------------------------------

    def _do_stopsession(self, body: dict, claims: dict) -> Response:
        call = self._session(body, claims)
        call.state = "ended"
        now = self.clock.now()
        self.outbox.run(call.session_id, lambda: self._job_hang_up(call, now, stopped=True))
        return ok()

    def _do_startfilerecording(self, body: dict, claims: dict) -> Response:
        call = self._session(body, claims)
        target = body.get("fileTarget") or {}
        if not isinstance(target, dict):
            raise Refused(400, "fileTarget must be an object")
        file = FileRecording(call.next_id(), self.clock.now(), target.get("recordingReferenceId"))
        call.files[file.recording_id] = file
        event = self._envelope(
            "RECORDINGSTARTED",
            file.recording_id,
            call.session_id,
            file.started_at,
            metaData=call.metadata,
        )
        event |= {"sessionId": call.session_id, "recordingReferenceId": file.reference}
        self.outbox.run(call.session_id, lambda: self.outbox.event("/recordingStarted", event))
        # The document names the new file recording's id "streamId" in this answer.
        return ok(streamId=file.recording_id)

    def _do_stopfilerecording(self, body: dict, claims: dict) -> Response:
        call = self._session(body, claims)
        file = call.files.pop(body.get("recordingId"), None)
        if file is None:
            error = "recordingId not found"
            ids = {"recordingId": body.get("recordingId")}
            notify = self._failure_event(
                "/stopFileRecordingFailed", "STOPFILERECORDINGFAILED", call, error, **ids
            )
            raise Refused(404, error, notify=notify)
        now = self.clock.now()
        self.outbox.run(call.session_id, lambda: self._job_recorded(call, file, now))
        return ok()

    def _do_startstream(self, body: dict, claims: dict) -> Response:
        call = self._session(body, claims)
        target = body.get("streamTarget")
        url = target.get("url") if isinstance(target, dict) else None
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise Refused(400, "streamTarget.url must be a ws:// or wss:// URL")
        chunk = target.get("chunkDuration", 250)
        if not isinstance(chunk, int) or isinstance(chunk, bool) or not 20 <= chunk <= 2000:
            raise Refused(400, "streamTarget.chunkDuration must be 20 to 2000 ms")
        stream_id = call.next_id()
        reference = target.get("streamReferenceId")
        call.streams[stream_id] = reference
        # Streams are acknowledged, never connected: the simulator sends no audio.
        self.outbox.run(
            call.session_id,
            lambda: self._session_event(
                "streamStarted", call, streamId=stream_id, streamReferenceId=reference
            ),
        )
        return ok(streamId=stream_id)

    def _do_stopstream(self, body: dict, claims: dict) -> Response:
        call = self._session(body, claims)
        stream_id = body.get("streamId")
        if stream_id not in call.streams:
            error = "streamId not found"
            notify = self._failure_event(
                "/stopStreamFailed", "STOPSTREAMFAILED", call, error, streamId=stream_id
            )
            raise Refused(404, error, notify=notify)
        reference = call.streams.pop(stream_id)
        self.outbox.run(
            call.session_id,
            lambda: self._session_event(
                "streamStopped", call, streamId=stream_id, streamReferenceId=reference
            ),
        )
        return ok()
