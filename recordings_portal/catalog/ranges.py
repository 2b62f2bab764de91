"""HTTP Range and conditional requests for one file of known size (RFC 9110 §13 and §14).

Plain functions, no models and no I/O: `plan()` takes the request's method and headers with
the file's size and validators and says what to answer (200, 206, 304, 412 or 416, and which
bytes). The media views turn a Plan into a response.

Choices the RFC leaves to the server:
- several ranges in one request are answered with the whole file (200), never multipart:
  browsers and media players ask for one range at a time, and a multipart body is a way to
  make a server send more than the file (overlapping ranges) for little use;
- a Range header that does not parse, or names another unit, is ignored (200, whole file);
- a zero-length file has no satisfiable byte range, so Range is ignored for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.utils.http import parse_http_date_safe

# Longer Range headers are ignored rather than parsed: nobody needs them, and int() of a
# thousands-of-digits position is work a client should not be able to ask for.
MAX_RANGE_HEADER = 1024
MAX_RANGES = 32

_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")
# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')

SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Plan:
    """What to answer: a status and, for 200 and 206, the inclusive byte span to send."""

    status: int
    size: int
    first: int = 0
    last: int = -1  # inclusive; last < first is an empty body

    @property
    def length(self) -> int:
        return max(0, self.last - self.first + 1)

    @property
    def content_range(self) -> str | None:
        if self.status == 206:
            return f"bytes {self.first}-{self.last}/{self.size}"
        if self.status == 416:
            return f"bytes */{self.size}"
        return None

    @property
    def sends_body(self) -> bool:
        return self.status in (200, 206)


def full(size: int) -> Plan:
    return Plan(200, size, 0, size - 1)


def parse_range(header: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable byte ranges of a Range header, clipped to the file, in request order.

    None: the header is to be ignored (malformed, another unit, too long). []: nothing in it is
    satisfiable (answer 416).
    """
    if len(header) > MAX_RANGE_HEADER or "=" not in header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":  # range units are case-insensitive tokens
        return None
    # 1#range-spec: a list whose empty elements a recipient must ignore (RFC 9110 §5.6.1).
    items = [item.strip() for item in spec.split(",")]
    items = [item for item in items if item]
    if not items or len(items) > MAX_RANGES:
        return None
    satisfiable: list[tuple[int, int]] = []
    for item in items:
        if match := _INT_RANGE.fullmatch(item):
            first = int(match[1])
            last = int(match[2]) if match[2] else None
            if last is not None and last < first:
                return None  # an invalid range-spec makes the whole header invalid
            if first < size:
                satisfiable.append((first, size - 1 if last is None else min(last, size - 1)))
        elif match := _SUFFIX_RANGE.fullmatch(item):
            suffix = int(match[1])
            if suffix > 0 and size > 0:
                satisfiable.append((max(0, size - suffix), size - 1))
        else:
            return None
    return satisfiable


def plan(
    method: str,
    headers: Mapping[str, str],
    size: int,
    etag: str | None = None,
    last_modified: datetime | None = None,
) -> Plan:
    """Evaluate preconditions in RFC 9110 §13.2.2's order, then the Range header."""
    method = method.upper()
    fields = {name.lower(): value for name, value in headers.items()}
    modified = int(last_modified.timestamp()) if last_modified is not None else None

    # 1-2: If-Match, or else If-Unmodified-Since.
    if (if_match := fields.get("if-match")) is not None:
        if not _matches(if_match, etag, strong=True):
            return Plan(412, size)
    elif (since := fields.get("if-unmodified-since")) is not None and modified is not None:
        date = parse_http_date_safe(since)
        if date is not None and modified > date:
            return Plan(412, size)

    # 3-4: If-None-Match, or else If-Modified-Since (GET and HEAD only).
    if (if_none_match := fields.get("if-none-match")) is not None:
        if _matches(if_none_match, etag, strong=False):
            return Plan(304 if method in SAFE_METHODS else 412, size)
    elif (since := fields.get("if-modified-since")) is not None and method in SAFE_METHODS:
        date = parse_http_date_safe(since)
        if date is not None and modified is not None and modified <= date:
            return Plan(304, size)

    # 5: Range, for GET only (HEAD answers what GET would), and only if If-Range holds.
    header = fields.get("range")
    if header is None or method not in SAFE_METHODS or size == 0:
        return full(size)
    if_range = fields.get("if-range")
    if if_range is not None and not _if_range_holds(if_range, etag, modified):
        return full(size)
    ranges = parse_range(header, size)
    if ranges is None:
        return full(size)
    if not ranges:
        return Plan(416, size)
    if len(ranges) > 1:
        return full(size)
    first, last = ranges[0]
    return Plan(206, size, first, last)


def first_byte(header: str | None, size: int) -> int:
    """Where the answer to a Range header would start (0 when the header would be ignored)."""
    if not header:
        return 0
    ranges = parse_range(header, size)
    return ranges[0][0] if ranges and len(ranges) == 1 else 0


def _entity_tags(field: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque-tag) pairs of an If-Match / If-None-Match list; None if it does not parse."""
    tags, position = [], 0
    field = field.strip()
    while position < len(field):
        match = _ENTITY_TAG.match(field, position)
        if match is None:
            return None
        tags.append((bool(match[1]), match[2]))
        position = match.end()
    return tags


def _matches(field: str, etag: str | None, *, strong: bool) -> bool:
    if field.strip() == "*":
        return True  # the file exists, so it has a current representation
    if etag is None:
        return False
    ours_weak, ours = etag.startswith("W/"), etag.removeprefix("W/")
    for weak, tag in _entity_tags(field) or []:
        if tag == ours and (not strong or not (weak or ours_weak)):
            return True
    return False


def _if_range_holds(field: str, etag: str | None, modified: int | None) -> bool:
    """If-Range: a strong entity-tag match, or a date exactly equal to Last-Modified."""
    field = field.strip()
    if field.startswith(("W/", '"')):
        return etag is not None and not etag.startswith("W/") and field == etag
    date = parse_http_date_safe(field)
    return date is not None and modified is not None and date == modified
