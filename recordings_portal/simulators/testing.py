"""Helpers for tests, benchmarks and the demo: run the simulators, steer them, catch webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from .server import SimulatorServer


@contextmanager
def running_simulators(**options):
    """A SimulatorServer on a free loopback port, served from a thread for the block's length."""
    server = SimulatorServer("127.0.0.1", 0, **options)
    server.start_in_thread()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class SimulatorControl:
    """The control endpoint over HTTP, as the demo and benchmarks reach a separate process."""

    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=f"{base_url}/_control", timeout=30)

    def faults(self, vendor: str, **settings) -> dict:
        response = self.client.post(f"/{vendor}/faults", json=settings)
        response.raise_for_status()
        return response.json()

    def clear_faults(self, vendor: str) -> None:
        self.client.delete(f"/{vendor}/faults").raise_for_status()

    def reset(self, vendor: str) -> None:
        self.client.post(f"/{vendor}/reset").raise_for_status()

    def advance_clock(self, seconds: float) -> dict:
        response = self.client.post("/clock", json={"advance": seconds})
        response.raise_for_status()
        return response.json()

    def knob(self, vendor: str, name: str, **payload) -> httpx.Response:
        return self.client.post(f"/{vendor}/{name}", json=payload)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A loopback HTTP endpoint that records what it is sent (webhooks, callbacks).

    `answer` decides the reply: a function of the Received request returning
    (status, json-able body) or (status, body, headers); by default 200 {}.
    """

    answer: Callable[[Received], tuple[int, object]] = lambda received: (200, {})
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see SimulatorHandler

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                # Recorded before answering: the sender may look as soon as it has the answer.
                with receiver.arrived:
                    receiver.requests.append(received)
                    receiver.arrived.notify_all()
                status, payload, *extra = receiver.answer(received)
                body = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_DELETE = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least `count` requests arrived; return them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
