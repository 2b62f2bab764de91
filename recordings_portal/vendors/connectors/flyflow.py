"""Flyflow (shared/vendor-apis/flyflow.txt): MP3 per call id; the calls listing discovers them.

Document quirks handled:
- the endpoint is given as `/call/recording/{id}.mp3` and the curl as
  `https://api.flyflow.dev/v1/call/recording/...`: the base URL may be given with or without
  `/v1`, and `/v1` is added when missing;
- "Content-Type: application/json" is listed as required on a GET without a body: sent anyway,
  since a strict server may check it.
"""

from __future__ import annotations

from contextlib import contextmanager

from .base import (
    CatalogPage,
    Connector,
    ConnectorError,
    RecordingRef,
    RemoteRecording,
)
from .fields import parse_time

PAGE_SIZE = 100


class FlyflowConnector(Connector):
    label = "Flyflow"

    def __init__(self, account, client):
        super().__init__(account, client)
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.secrets['api_key']}",
            "Content-Type": "application/json",
        }

    def raise_for_status(self, response) -> None:
        if response.status_code == 400:
            raise ConnectorError(
                f"Flyflow refused the request: {self.error_detail(response)}", permanent=True
            )
        super().raise_for_status(response)

    def check(self) -> str:
        page = self.send("GET", self.url("/calls"), params={"limit": 1}).json()
        if not isinstance(page.get("data"), list):
            raise ConnectorError("Flyflow's calls listing did not have the expected shape.")
        return "Flyflow accepted the API key and listed calls."

    def discover(self, cursor: dict) -> CatalogPage:
        params = {"limit": PAGE_SIZE}
        if cursor.get("after"):
            params["cursor"] = cursor["after"]
        body = self.send("GET", self.url("/calls"), params=params).json()
        recordings = [self._recording(row) for row in body.get("data", [])]
        after = body.get("next_cursor")
        return CatalogPage(recordings, {"after": after} if after else None)

    @staticmethod
    def _recording(row: dict) -> RemoteRecording:
        call_id = str(row["id"])
        participants = tuple(p for p in (row.get("from"), row.get("to")) if p)
        return RemoteRecording(
            external_id=call_id,
            vendor_call_id=call_id,
            started_at=parse_time(row.get("started_at")),
            duration=row.get("duration"),
            direction=row.get("direction") or "unknown",
            caller=row.get("from") or "",
            callee=row.get("to") or "",
            participants=participants,
            format="mp3",
        )

    @contextmanager
    def media(self, ref: RecordingRef):
        if not ref.external_id.isdigit():
            # The document types the id as an integer: anything else would only earn a 400.
            message = f"Flyflow ids are integers, not {ref.external_id!r}."
            raise ConnectorError(message, permanent=True)
        url = self.url(f"/call/recording/{ref.external_id}.mp3")
        with self.stream_get(url, fmt="mp3") as media:
            yield media
