"""Fault injection: what a flaky vendor does to a client, set per vendor at run time.

Counted faults ("the next N requests") make tests deterministic; the rate is for demos and
benchmarks. Body faults only touch media responses, so a test can break a download without
breaking the listing that precedes it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields


@dataclass
class FaultSettings:
    latency: float = 0.0  # seconds added before every answer
    error_rate: float = 0.0  # share of requests answered 500
    fail_next: int = 0  # the next N requests answer 500
    rate_limit_next: int = 0  # the next N requests answer 429 ...
    retry_after: int = 1  # ... with this Retry-After (seconds)
    drop_next: int = 0  # the next N media bodies stop half-way and the connection closes
    truncate_next: int = 0  # the next N media bodies are short of their Content-Length
    slow_body: int = 0  # media bodies trickle at this many bytes per second (0: full speed)
    wrong_checksum: bool = False  # checksums the vendor reports do not match the file
    expire_links: bool = False  # signed or temporary links are already expired when handed out


class Faults:
    """Thread-safe fault state of one vendor."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.settings = FaultSettings()

    def update(self, **changes) -> FaultSettings:
        known = {f.name: f.type for f in fields(FaultSettings)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in changes.items():
                current = getattr(self.settings, name)
                setattr(self.settings, name, type(current)(value))
            return FaultSettings(**asdict(self.settings))

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings()

    def _take(self, name: str) -> bool:
        with self._lock:
            remaining = getattr(self.settings, name)
            if remaining > 0:
                setattr(self.settings, name, remaining - 1)
                return True
            return False

    def status_fault(self) -> tuple[int, dict[str, str]] | None:
        """A status to answer instead of the real one, or None."""
        if self._take("rate_limit_next"):
            return 429, {"Retry-After": str(self.settings.retry_after)}
        if self._take("fail_next"):
            return 500, {}
        with self._lock:
            if self.settings.error_rate and self._random.random() < self.settings.error_rate:
                return 500, {}
        return None

    def body_fault(self) -> str | None:
        """'drop', 'truncate' or None for the media body about to be sent."""
        if self._take("drop_next"):
            return "drop"
        if self._take("truncate_next"):
            return "truncate"
        return None

    @property
    def latency(self) -> float:
        return self.settings.latency

    @property
    def slow_body(self) -> int:
        return self.settings.slow_body

    @property
    def wrong_checksum(self) -> bool:
        return self.settings.wrong_checksum

    @property
    def expire_links(self) -> bool:
        return self.settings.expire_links

    def as_dict(self) -> dict:
        with self._lock:
            return asdict(self.settings)
