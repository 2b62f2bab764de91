"""The small request/response vocabulary the vendor simulators are written in."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # the path below the vendor's prefix, still percent-encoded
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base_url: str  # scheme://host:port/prefix, for links the vendor hands out
    client: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    def json(self):
        """The JSON body, or None when the body is not valid JSON."""
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass
class Response:
    status: int = 200
    body: bytes | Path | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Media bodies are the ones the body faults (drop, truncate, slow) apply to.
    media: bool = False

    def length(self) -> int | None:
        if isinstance(self.body, bytes):
            return len(self.body)
        if isinstance(self.body, Path):
            return self.body.stat().st_size
        return None


def json_response(data, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def raw_response(text: str, status: int, content_type: str = "application/json") -> Response:
    """A body sent exactly as given: some documented vendor bodies are not valid JSON."""
    return Response(status, text.encode(), {"Content-Type": content_type})


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", {"Location": location})


def file_response(path: Path, content_type: str, headers: dict[str, str] | None = None) -> Response:
    return Response(200, path, {"Content-Type": content_type, **(headers or {})}, media=True)
