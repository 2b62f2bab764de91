"""Signed, expiring links: how the simulated vendors hand out media URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


class LinkSigner:
    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def _signature(self, path: str, expires: int, nonce: str) -> str:
        message = f"{path}\n{expires}\n{nonce}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, path: str, ttl_seconds: float, now: float | None = None) -> dict[str, str]:
        """Query parameters e (expiry, epoch seconds), n (nonce), s (signature) for a path."""
        expires = int((now if now is not None else time.time()) + ttl_seconds)
        nonce = secrets.token_hex(5)
        return {"e": str(expires), "n": nonce, "s": self._signature(path, expires, nonce)}

    def check(self, path: str, params: dict[str, str], now: float | None = None) -> str | None:
        """None when the link is good, else 'invalid' or 'expired'."""
        try:
            expires = int(params.get("e", ""))
        except ValueError:
            return "invalid"
        expected = self._signature(path, expires, params.get("n", ""))
        if not hmac.compare_digest(expected, params.get("s", "")):
            return "invalid"
        if (now if now is not None else time.time()) >= expires:
            return "expired"
        return None
