"""What every simulated vendor shares: routing, a clock, faults, the audio library."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .audio import AudioLibrary
from .faults import Faults
from .http import Request, Response, json_response
from .signing import LinkSigner


class Clock:
    """Wall time plus an offset tests can move forward (link expiry, retention, 6-month limits)."""

    def __init__(self):
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Callable[..., Response]


def route(method: str, pattern: str):
    """Mark a VendorSimulator method as the handler of METHOD on a path regex (named groups)."""

    def mark(func):
        func.route = (method, re.compile(f"^{pattern}$"))
        return func

    return mark


class VendorSimulator:
    """One vendor's API. Subclasses define routes with @route and seed their state in reset()."""

    name: str = ""  # the path prefix the server mounts it under

    def __init__(
        self,
        *,
        clock: Clock,
        audio: AudioLibrary,
        seed: int = 1,
        recordings: int = 40,
    ):
        self.clock = clock
        self.audio = audio
        self.seed = seed
        self.recordings = recordings
        self.faults = Faults(seed)
        self.signer = LinkSigner()
        self.lock = threading.RLock()
        self.routes = [
            Route(method, pattern, getattr(self, attr))
            for attr in dir(type(self))
            if (spec := getattr(getattr(type(self), attr), "route", None))
            for method, pattern in [spec]
        ]
        self.reset()

    def reset(self) -> None:
        """Rebuild the seeded state."""

    def credentials(self) -> dict:
        """What a portal vendor account needs to reach this simulator.

        {"path": path below the server URL to use as the account's base URL,
         "config": non-secret settings, "secrets": secret settings}
        """
        return {"path": f"/{self.name}", "config": {}, "secrets": {}}

    def audio_specs(self) -> list:
        """The audio every seeded recording needs, for warming the cache; vendors override."""
        return []

    def control(self, knob: str, payload: dict) -> Response:
        """Vendor-specific test knobs, reached at POST /_control/<vendor>/<knob>."""
        return json_response({"error": f"unknown knob {knob!r}"}, 404)

    def later(self, delay: float, func: Callable[[], None]) -> None:
        """Run func on a background thread after delay seconds (webhooks, state changes)."""
        timer = threading.Timer(delay, func)
        timer.daemon = True
        timer.start()

    def dispatch(self, request: Request) -> Response:
        path_matched = False
        for candidate in self.routes:
            match = candidate.pattern.match(request.path)
            if not match:
                continue
            path_matched = True
            if candidate.method == request.method:
                return candidate.handler(request, **match.groupdict())
        if path_matched:
            return json_response({"error": "method_not_allowed"}, 405)
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return json_response({"error": "not_found", "message": "No such endpoint"}, 404)
