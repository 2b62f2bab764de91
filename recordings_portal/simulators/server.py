"""One HTTP server for all five simulated vendors, each under its own path prefix.

The stdlib server is used on purpose: it lets the fault knobs do what real networks do
(close a socket half-way through a body, send fewer bytes than Content-Length promised).
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .audio import AudioLibrary
from .base import Clock, VendorSimulator
from .http import Request, Response, json_response

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


def vendor_classes() -> dict[str, type[VendorSimulator]]:
    from .audian import AudianSimulator
    from .flyflow import FlyflowSimulator
    from .iotcomms import IotcommsSimulator
    from .kaleyra import KaleyraSimulator
    from .koreai import KoreaiSimulator

    classes = [
        KaleyraSimulator,
        KoreaiSimulator,
        FlyflowSimulator,
        AudianSimulator,
        IotcommsSimulator,
    ]
    return {cls.name: cls for cls in classes}


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 1,
        recordings: int | dict[str, int] = 40,
        cache_dir: Path | str | None = None,
        vendors: list[str] | None = None,
    ):
        super().__init__((host, port), SimulatorHandler)
        self.clock = Clock()
        self.audio = AudioLibrary(cache_dir)
        self.vendors: dict[str, VendorSimulator] = {}
        for name, cls in vendor_classes().items():
            if vendors is not None and name not in vendors:
                continue
            count = recordings.get(name, 40) if isinstance(recordings, dict) else recordings
            self.vendors[name] = cls(
                clock=self.clock, audio=self.audio, seed=seed, recordings=count
            )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def warm_audio(self) -> None:
        """Encode every call's audio now, so the first downloads do not wait for it."""
        for vendor in self.vendors.values():
            for spec in vendor.audio_specs():
                self.audio.get(spec)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="simulators", daemon=True)
        thread.start()
        return thread

    def control(self, method: str, parts: list[str], payload: dict) -> Response:
        """/_control/accounts, /_control/clock, /_control/<vendor>/faults|reset|<knob>."""
        if parts == ["accounts"]:
            accounts = {name: vendor.credentials() for name, vendor in self.vendors.items()}
            return json_response(accounts)
        if parts == ["clock"]:
            if method == "POST":
                self.clock.advance(float(payload.get("advance", 0)))
            return json_response({"now": self.clock.now(), "offset": self.clock.offset})
        if not parts or parts[0] not in self.vendors:
            return json_response({"error": "unknown vendor"}, 404)
        vendor = self.vendors[parts[0]]
        knob = parts[1] if len(parts) > 1 else ""
        if knob == "faults":
            if method == "DELETE":
                vendor.faults.reset()
            elif method == "POST":
                try:
                    vendor.faults.update(**payload)
                except (ValueError, TypeError) as exc:
                    return json_response({"error": str(exc)}, 400)
            return json_response(vendor.faults.as_dict())
        if knob == "reset" and method == "POST":
            with vendor.lock:
                vendor.faults.reset()
                vendor.reset()
            return json_response({"reset": vendor.name})
        if method != "POST":
            return json_response({"error": "control knobs take POST"}, 405)
        return vendor.control(knob, payload)


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without this, Nagle's algorithm meets the
    # client's delayed ACK and every keep-alive response waits 40 ms.
    disable_nagle_algorithm = True
    server: SimulatorServer
    server_version = "VendorSimulator/1.0"

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self):
        split = urlsplit(self.path)
        parts = split.path.split("/")
        body = self._read_body()
        if body is None:
            self._send(json_response({"error": "payload_too_large"}, 413))
            return
        if len(parts) > 1 and parts[1] == "_control":
            payload = json.loads(body or b"{}") if body.strip() else {}
            self._send(self.server.control(self.command, parts[2:], payload))
            return
        vendor = self.server.vendors.get(parts[1] if len(parts) > 1 else "")
        if vendor is None:
            self._send(json_response({"error": "not_found", "message": "Unknown vendor"}, 404))
            return
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            method=self.command,
            path="/" + "/".join(parts[2:]),
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            base_url=f"http://{host}/{vendor.name}",
            client=self.client_address[0],
        )
        if vendor.faults.latency:
            time.sleep(vendor.faults.latency)
        status_fault = vendor.faults.status_fault()
        if status_fault:
            status, headers = status_fault
            error = {"error": "injected_fault", "message": f"Simulated HTTP {status}"}
            self._send(json_response(error, status, headers))
            return
        try:
            response = vendor.dispatch(request)
        except Exception:
            log.exception("simulator %s failed on %s %s", vendor.name, self.command, self.path)
            response = json_response({"error": "internal", "message": "Simulator error"}, 500)
        self._send(response, vendor)

    def _send(self, response: Response, vendor: VendorSimulator | None = None):
        length = response.length()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        fault = vendor.faults.body_fault() if vendor and response.media else None
        rate = vendor.faults.slow_body if vendor and response.media else 0
        limit = length // 2 if fault and length else None
        sent = 0
        for chunk in _chunks(response.body):
            if limit is not None and sent + len(chunk) >= limit:
                self.wfile.write(chunk[: limit - sent])
                self.wfile.flush()
                self._cut(fault)
                return
            self.wfile.write(chunk)
            sent += len(chunk)
            if rate:
                time.sleep(len(chunk) / rate)

    def _cut(self, fault: str):
        """End the connection mid-body: 'drop' resets it, 'truncate' closes it cleanly."""
        self.close_connection = True
        if fault == "drop":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


def _chunks(body):
    if isinstance(body, bytes):
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]
    elif isinstance(body, Path):
        with body.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    else:
        yield from body
