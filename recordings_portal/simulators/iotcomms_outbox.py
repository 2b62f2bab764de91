"""What the iotcomms simulator sends: REST callbacks and alarms, with the customer's Bearer token.

Deliveries run on background threads (VendorSimulator.later), one queue per call so a call's
events arrive in order (newCall before recordingStarted before recordingReady). A reset starts
a new epoch: work queued or running for the previous test is dropped, not delivered to the next.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)

CALLBACK_TOKEN = "iotc_cb_7d41f0a2c9e8b35d"  # noqa: S105 - a published demo credential
TIMEOUT = 5.0  # "Call setup is paused until a response have been received or after a timeout"


class Outbox:
    def __init__(self, later: Callable[[float, Callable[[], None]], None]):
        self.later = later
        self.lock = threading.Lock()
        self.local = threading.local()
        self.epoch = 0
        self.queues: dict[str, deque] = {}
        self.configure(None)

    def configure(self, url: str | None, token: str = CALLBACK_TOKEN, alarm_url: str | None = None):
        with self.lock:
            self.url, self.token, self.alarm_url = url, token, alarm_url

    def reset(self) -> None:
        with self.lock:
            self.epoch += 1
            self.queues.clear()
        self.configure(None)

    def run(self, key: str, job: Callable[[], None]) -> None:
        """Run job in the background, after the jobs queued earlier under the same key."""
        with self.lock:
            if key in self.queues:  # a drainer is at work on this key and will pick it up
                self.queues[key].append(job)
                return
            self.queues[key] = deque([job])
            epoch = self.epoch
        self.later(0, lambda: self._drain(key, epoch))

    def _drain(self, key: str, epoch: int) -> None:
        self.local.epoch = epoch
        while True:
            with self.lock:
                if self.epoch != epoch:
                    return
                queue = self.queues[key]
                if not queue:
                    del self.queues[key]
                    return
                job = queue.popleft()
            try:
                job()
            except Exception:
                log.exception("iotcomms simulator job failed")

    def post(self, path: str, body: dict, *, alarm: bool = False) -> httpx.Response | None:
        """POST body to the configured URL + path; None when there is no URL or the test ended."""
        with self.lock:
            base = (self.alarm_url or self.url) if alarm else self.url
            token = self.token
            if base is None or getattr(self.local, "epoch", self.epoch) != self.epoch:
                return None
        return httpx.post(
            base.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )

    def event(self, path: str, body: dict) -> None:
        """Deliver an event; a failed delivery raises the eventNotificationError alarm."""
        try:
            response = self.post(path, body)
            error = (
                None if response is None or response.is_success else f"HTTP {response.status_code}"
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            self.alarm(
                {
                    "type": "eventNotificationError",
                    "event": json.dumps(body),
                    "error": f"Error publishing {path.lstrip('/')} notification: {error}",
                }
            )

    def alarm(self, body: dict) -> None:
        """Alarms go to <base>/<type>: the samples' alarmTopic is the eventTopic, so alarms use
        the events' channel (or a separate alarm URL when one is configured)."""
        try:
            self.post(f"/{body['type']}", body, alarm=True)
        except httpx.HTTPError:
            log.info("iotcomms simulator could not deliver alarm %s", body["type"])

    def ask_new_call(self, body: dict, domain: str) -> bool:
        """POST /newCall and read recordCall; a failed request raises apiRequestError."""
        with self.lock:
            uri = f"{self.url.rstrip('/')}/newCall" if self.url else None
        try:
            response = self.post("/newCall", body)
        except httpx.HTTPError as exc:
            self._new_call_failed(body, domain, uri, 0, f"{type(exc).__name__}: {exc}")
            return False
        if response is None:
            return False  # nobody configured to ask: the call is not recorded
        if not response.is_success:
            self._new_call_failed(body, domain, uri, response.status_code, response.reason_phrase)
            return False
        try:
            answer = response.json()
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("recordCall") is True

    def _new_call_failed(self, body, domain, uri, status, message) -> None:
        self.alarm(
            {
                "event": "apiRequestError",
                "type": "apiRequestError",
                "domain": domain,
                "recordingId": body["recordingId"],
                "error": "Error calling newCall API",
                "method": "POST",
                "requestUri": uri,
                "statusCode": status,
                "statusMessage": message,
            }
        )
