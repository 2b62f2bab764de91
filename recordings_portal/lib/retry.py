"""How long to wait before trying a vendor again: capped exponential backoff with jitter."""

import random

BASE_SECONDS = 5.0
CAP_SECONDS = 15 * 60.0


def backoff(attempt: int, retry_after: float = 0.0) -> float:
    """Seconds before attempt number `attempt` + 1; never sooner than the vendor's Retry-After."""
    exponential = min(CAP_SECONDS, BASE_SECONDS * 2 ** max(0, attempt - 1))
    jittered = exponential * random.uniform(0.5, 1.0)  # spread retries of many rows apart
    return max(retry_after, jittered)
