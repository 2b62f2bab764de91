"""Reading the loosely typed fields vendor JSON carries, without trusting it."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value) -> datetime | None:
    """An ISO 8601 time ("Z" or an offset; none means UTC), or None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
