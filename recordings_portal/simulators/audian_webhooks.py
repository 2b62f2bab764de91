"""Audian's signed webhook deliveries (our addition: the document shows the event bodies only).

Each event is POSTed with
  X-Audian-Signature:   hex HMAC-SHA256(secret, f"{timestamp}." + raw body)
  X-Audian-Timestamp:   epoch seconds on the simulated clock, like every Audian timestamp
  X-Audian-Delivery-ID: one per event; retries keep it, so receivers can drop duplicates.
A delivery answered non-2xx (or not at all) is retried with doubling backoff; each attempt is
signed afresh with its own timestamp. One worker thread sends events in the order they happen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class WebhookConfig:
    url: str | None = None
    secret: str = ""
    retries: int = 3  # attempts after the first
    backoff: float = 0.25  # seconds before the first retry, doubling after


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    body: bytes
    config: WebhookConfig
    generation: int


class WebhookSender:
    def __init__(self, clock, default_secret: str):
        self.clock = clock
        self.default_secret = default_secret
        self.config = WebhookConfig(secret=default_secret)
        self.generation = 0
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._guard = threading.Lock()

    def reset(self) -> None:
        """Forget the configuration; deliveries still queued from before are dropped."""
        self.generation += 1
        self.config = WebhookConfig(secret=self.default_secret)

    def configure(self, **settings) -> WebhookConfig:
        current = self.config
        self.config = WebhookConfig(
            url=settings.get("url", current.url),
            secret=settings.get("secret") or current.secret,
            retries=int(settings.get("retries", current.retries)),
            backoff=float(settings.get("backoff", current.backoff)),
        )
        return self.config

    def send(self, event: dict) -> str | None:
        """Queue one event; its delivery id, or None when no webhook URL is configured."""
        if not self.config.url:
            return None
        delivery = Delivery(
            delivery_id=f"dlv_{secrets.token_hex(12)}",
            body=json.dumps(event).encode(),
            config=self.config,
            generation=self.generation,
        )
        self._queue.put(delivery)
        with self._guard:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="audian-webhooks", daemon=True
                )
                self._worker.start()
        return delivery.delivery_id

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while True:
                delivery = self._queue.get()
                try:
                    self._deliver(client, delivery)
                except Exception:
                    log.exception("audian webhook %s failed", delivery.delivery_id)

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        config = delivery.config
        for attempt in range(config.retries + 1):
            if delivery.generation != self.generation:
                return
            if attempt:
                time.sleep(config.backoff * 2 ** (attempt - 1))
            timestamp = str(int(self.clock.now()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Audian-Webhooks/1.0",
                "X-Audian-Signature": sign(config.secret, timestamp, delivery.body),
                "X-Audian-Timestamp": timestamp,
                "X-Audian-Delivery-ID": delivery.delivery_id,
            }
            try:
                response = client.post(config.url, content=delivery.body, headers=headers)
            except httpx.HTTPError as exc:
                log.info("audian webhook %s attempt %d: %s", delivery.delivery_id, attempt, exc)
                continue
            if response.is_success:
                return
            log.info(
                "audian webhook %s attempt %d: HTTP %d",
                delivery.delivery_id,
                attempt,
                response.status_code,
            )
