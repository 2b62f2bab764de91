"""The life of a simulated iotcomms call, and the events it sends on the way.

newCall -> (recordCall true) RECORDINGSTARTED -> the call ends on the simulated clock, or a
STOPRECORDING/STOPSESSION ends it early -> the recording is cut and put in temporary storage ->
RECORDINGREADY. Temporary recordings expire after TEMP_RETENTION with a tempRecordingDeleted
alarm. Every method named _job_* runs on the outbox's per-call queue, off the request thread.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import editing
from .iotcomms_model import (
    COMMAND_QUEUE,
    DOMAIN,
    REGION,
    Call,
    FileRecording,
    TempRecording,
    iso_ms,
    parts_info,
)

# The document gives no retention for temporary storage; a day is our choice.
TEMP_RETENTION = 24 * 3600
SHORTEST_RECORDING = 1.0  # seconds: a recording stopped at once still holds a little audio
RECORDING_FAILED = (
    'Recording completed with error": { "reason":"Error No RTP media received", '
    '"type":"stoppedWithoutMedia"}'
)  # the document's sample error, odd quoting included


class CallFlows:
    """Mixed into IotcommsSimulator: needs clock, lock, audio, outbox, replies, calls, temp."""

    # --- events ---------------------------------------------------------------------------

    def _reply(self, recording_id: str, session_id: str, started_at: float) -> str:
        return self.replies.issue(
            recording_id=recording_id,
            session_id=session_id,
            started_at=started_at,
            now=self.clock.now(),
        )

    def _envelope(self, event: str, recording_id: str, session_id: str, started_at: float, **meta):
        # In the samples' key order; commandQueue is in every event's field table though the
        # samples leave it out.
        return {
            "event": event,
            "recordingId": recording_id,
            "domain": DOMAIN,
            **meta,
            "replyId": self._reply(recording_id, session_id, started_at),
            "commandQueue": COMMAND_QUEUE,
            "commandRegion": REGION,
        }

    def _session_event(self, name: str, call: Call, **extra) -> None:
        """Session and stream events: named in the document, bodies ours (shaped as the rest)."""
        body = {
            "event": name.upper(),
            "sessionId": call.session_id,
            "domain": DOMAIN,
            **extra,
            "replyId": self._reply(call.recording_id, call.session_id, call.started_at),
            "commandQueue": COMMAND_QUEUE,
            "commandRegion": REGION,
        }
        self.outbox.event(f"/{name}", body)

    def _ready_body(self, temp: TempRecording) -> dict:
        body = {
            "recordingId": temp.recording_id,
            "meta": parts_info(temp.start_ms, temp.ssrcs),
            "sipRecCallId": temp.sip_call_id,
            "commandQueue": COMMAND_QUEUE,
            "domain": DOMAIN,
            "replyId": self._reply(temp.recording_id, temp.session_id, temp.started_at),
            # The MERGERECORDINGS section says RECORDINGREADY carries these two; the
            # /recordingReady sample shows neither, so they are added, not swapped in.
            "startTime": temp.start_ms,
            "relatedRecordings": temp.related,
        }
        if temp.recording_id != temp.session_id:  # a file recording of a session
            body["sessionId"] = temp.session_id
            body["recordingReferenceId"] = temp.reference
        return body

    # --- the call ------------------------------------------------------------------------

    def _job_setup(self, call: Call) -> None:
        ask = {
            "recordingId": call.recording_id,
            "metaData": call.metadata,
            "sipRecCallId": call.sip_call_id,
        }
        recorded = self.outbox.ask_new_call(ask, DOMAIN)
        with self.lock:
            if self.calls.get(call.session_id) is not call:
                return
            call.state = "active" if recorded else "ended"
            call.recording = recorded and not call.session_mode
        if not recorded:
            return
        if call.session_mode:
            self._session_event("sessionStarted", call, metaData=call.metadata)
            return
        body = self._envelope(
            "RECORDINGSTARTED",
            call.recording_id,
            call.session_id,
            call.started_at,
            metaData=call.metadata,
        )
        self.outbox.event("/recordingStarted", body)

    def _sweep(self) -> None:
        """Calls whose time is up hang up; temporary recordings past retention are deleted."""
        now = self.clock.now()
        with self.lock:
            ended = [c for c in self.calls.values() if c.state == "active" and now >= c.ends_at]
            for call in ended:
                call.state = "ended"
            expired = [t for t in self.temp.values() if now >= t.ready_at + TEMP_RETENTION]
            for temp in expired:
                del self.temp[temp.recording_id]
        for call in ended:
            self.outbox.run(call.session_id, lambda c=call: self._job_hang_up(c, c.ends_at))
        for temp in expired:
            self.outbox.run(temp.session_id, lambda t=temp: self._job_expired(t))

    def _job_hang_up(self, call: Call, until: float, stopped: bool = False) -> None:
        """Ongoing recordings become ready, streams stop, a session completes."""
        with self.lock:
            legacy, call.recording = call.recording, False
            files, streams = list(call.files.values()), dict(call.streams)
            call.files.clear()
            call.streams.clear()
        if legacy:
            self._job_recorded(call, FileRecording(call.recording_id, call.started_at), until)
        for file in files:
            self._job_recorded(call, file, until)
        for stream_id, reference in streams.items():
            self._session_event(
                "streamStopped", call, streamId=stream_id, streamReferenceId=reference
            )
        if call.session_mode:
            if stopped:
                self._session_event("sessionStopped", call)
            self._session_event("sessionCompleted", call)

    def _job_recorded(self, call: Call, file: FileRecording, until: float) -> None:
        """Cut [file.started_at, until] out of the call's audio into temporary storage."""
        if call.fail:
            body = self._envelope(
                "RECORDINGFAILED", file.recording_id, call.session_id, file.started_at
            )
            if file.reference is not None:
                body["recordingReferenceId"] = file.reference
            self.outbox.event("/recordingFailed", body)
            alarm = {"event": "recordingFailed", "type": "recordingFailed"}
            alarm |= {"recordingId": file.recording_id, "domain": DOMAIN, "error": call.fail}
            self.outbox.alarm(alarm)
            return
        end = min(until, call.ends_at)
        begin = max(call.started_at, min(file.started_at, end - SHORTEST_RECORDING))
        length = max(end - begin, SHORTEST_RECORDING)
        temp = TempRecording(
            recording_id=file.recording_id,
            session_id=call.session_id,
            started_at=begin,
            duration=min(length, call.audio.duration),
            ready_at=self.clock.now(),
            sip_call_id=call.sip_call_id,
            ssrcs=call.ssrcs,
            reference=file.reference,
        )
        if begin == call.started_at and length >= call.audio.duration:
            temp.audio = call.audio
        else:
            temp.path = self.workdir / f"{file.recording_id}.mp3"
            offset = begin - call.started_at
            source = self.audio.get(call.audio).path
            editing.edit(source, temp.path, trim=(offset, offset + temp.duration))
        with self.lock:
            if self.calls.get(call.session_id) is not call:
                return
            temp.related = [
                {"recordingId": other.recording_id, "startTime": other.start_ms}
                for rid in call.related
                if (other := self.temp.get(rid))
            ]
            self.temp[temp.recording_id] = temp
        self.outbox.event("/recordingReady", self._ready_body(temp))

    def _job_expired(self, temp: TempRecording) -> None:
        self._discard(temp)
        self.outbox.alarm(
            {
                "event": "tempRecordingDeleted",
                "type": "tempRecordingDeleted",
                "recordingId": temp.recording_id,
                "domain": DOMAIN,
                "service": "siprec",
                "modifiedDate": iso_ms(temp.ready_at),
                "error": f"Recording id {temp.recording_id} expired.",
            }
        )

    def _discard(self, temp: TempRecording) -> None:
        if temp.path is not None:
            temp.path.unlink(missing_ok=True)

    # --- what the commands start ---------------------------------------------------------

    def _job_store(self, temp: TempRecording, target: Path, edits, command: dict) -> None:
        trim, masks = edits
        source = temp.path or self.audio.get(temp.audio).path
        partial = target.with_name(f".{target.name}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if trim or masks:
                editing.edit(source, partial, trim=trim, masks=masks)
            else:
                shutil.copyfile(source, partial)
            os.replace(partial, target)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            error = f"Could not store recording: {exc}"
            self.outbox.alarm(
                {"type": "storeRecordingError", "event": json.dumps(command), "error": error}
            )
            return
        self._stored(temp, command)

    def _job_merge(self, main: TempRecording, parts, exclusive, target: Path, command) -> None:
        partial = target.with_name(f".{target.name}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            sources = [(t.path or self.audio.get(t.audio).path, start) for t, start in parts]
            editing.merge(sources, partial, exclusive=exclusive)
            os.replace(partial, target)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            error = f"Could not merge recordings: {exc}"
            self.outbox.alarm(
                {"type": "mergeRecordingsError", "event": json.dumps(command), "error": error}
            )
            return
        merged = [t.recording_id for t, _ in sorted(parts, key=lambda part: part[1])]
        self._stored(main, command, mergedRecordings=merged)

    def _stored(self, temp: TempRecording, command: dict, **extra) -> None:
        """/recordingStored: named in the document, body ours; replyId serves DELETERECORDING."""
        body = self._envelope(
            "RECORDINGSTORED", temp.recording_id, temp.session_id, temp.started_at
        )
        body |= {"destinationBucket": command["destinationBucket"], "fileName": command["fileName"]}
        self.outbox.event("/recordingStored", body | extra)

    def _job_deleted(self, temp: TempRecording) -> None:
        self._discard(temp)
        self.outbox.event(
            "/recordingDeleted",
            {"event": "RECORDINGDELETED", "recordingId": temp.recording_id, "domain": DOMAIN},
        )
