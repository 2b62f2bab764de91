"""How long to wait before trying a vendor again: capped exponential backoff with jitter."""

import random

from django.conf import settings


def backoff(attempt: int, retry_after: float = 0.0) -> float:
    """Seconds before attempt number `attempt` + 1; never sooner than the vendor's Retry-After."""
    base, cap = settings.RETRY_BASE_SECONDS, settings.RETRY_CAP_SECONDS
    exponential = min(cap, base * 2 ** max(0, attempt - 1))
    jittered = exponential * random.uniform(0.5, 1.0)  # spread retries of many rows apart
    return max(retry_after, jittered)
