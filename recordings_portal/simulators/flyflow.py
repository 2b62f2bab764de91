"""Flyflow (shared/vendor-apis/flyflow.txt): one MP3 per call, fetched by integer call id.

The document only describes the recording download; the calls listing with a cursor is the
portal's discovery source (as the simulator issue defines it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from .base import VendorSimulator, route
from .calls import generate_calls
from .http import Request, Response, file_response, json_response

API_KEY = "ff_live_demo_4b1d9a7e3aex"
FIRST_ID = 1001


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FlyflowSimulator(VendorSimulator):
    name = "flyflow"
    api_key = API_KEY

    def reset(self) -> None:
        calls = generate_calls(
            vendor=self.name,
            seed=self.seed,
            count=self.recordings,
            now=self.clock.now(),
            formats=("mp3",),
        )
        self.calls = {FIRST_ID + call.index: call for call in calls}

    def credentials(self) -> dict:
        return {"path": "/flyflow/v1", "config": {}, "secrets": {"api_key": self.api_key}}

    def audio_specs(self) -> list:
        return [call.audio for call in self.calls.values()]

    def _authorised(self, request: Request) -> bool:
        return request.header("Authorization", "") == f"Bearer {self.api_key}"

    def _unauthorised(self) -> Response:
        return json_response({"error": "Unauthorized", "message": "Invalid API key"}, 401)

    @route("GET", r"/v1/call/recording/(?P<call_id>[^/]+)\.mp3")
    def recording(self, request: Request, call_id: str) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        if not call_id.isdigit():
            return json_response({"error": "Bad Request", "message": "id must be an integer"}, 400)
        call = self.calls.get(int(call_id))
        if call is None:
            return json_response({"error": "Not Found", "message": "Recording not found"}, 404)
        audio = self.audio.get(call.audio)
        return file_response(audio.path, "audio/mpeg")

    @route("GET", r"/v1/calls")
    def calls_listing(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised()
        try:
            limit = int(request.arg("limit") or 50)
            after = int(request.arg("cursor") or 0)
        except ValueError:
            return json_response({"error": "Bad Request", "message": "bad cursor or limit"}, 400)
        if not 1 <= limit <= 100:
            return json_response({"error": "Bad Request", "message": "limit is 1 to 100"}, 400)
        ids = sorted(call_id for call_id in self.calls if call_id > after)
        page = ids[:limit]
        rows = []
        for call_id in page:
            call = self.calls[call_id]
            rows.append(
                {
                    "id": call_id,
                    "from": call.caller,
                    "to": call.callee,
                    "direction": call.direction,
                    "started_at": iso(call.started_at),
                    "ended_at": iso(call.ended_at),
                    "duration": call.duration,
                    "recording_url": f"{request.base_url}/v1/call/recording/{call_id}.mp3",
                }
            )
        more = len(ids) > limit
        return json_response({"data": rows, "next_cursor": str(page[-1]) if more else None})
