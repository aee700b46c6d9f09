"""A small async rate limiter on Django's cache, so that every server process sharing the
cache (Redis, or the database cache) counts together.

Fixed windows: the first hit of a window creates its counter with `add` (atomic), the
others `incr` it (atomic in Redis, the database cache and local memory). A rate is
"<count>/<unit>" with unit s, m, h or d (e.g. "30/m"). No maintained library fits here:
django-ratelimit is sync only, and `limits` keeps its own storage instead of the
project's cache.
"""

import hashlib
import math
import re
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.core.cache import cache

from .api import ApiError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int


def parse_rate(text: str) -> Rate:
    """ "30/m" → Rate(30, 60); "100/5m" → Rate(100, 300)."""
    match = _RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a rate such as '30/m'")
    multiplier = int(match.group(2) or 1)
    return Rate(int(match.group(1)), multiplier * _UNITS[match.group(3)])


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            "rate_limited",
            f"Too many requests; try again in {retry_after} seconds.",
            {"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def hit(scope: str, subject: str | None, rate_text: str) -> None:
    """Count one request of ``subject`` (an IP, a user id) in ``scope``; raise
    RateLimited (429 with Retry-After) once the window's limit is passed. Sync: call it
    inside a unit of work that already runs in a thread, or through ``ahit``."""
    if not subject:
        return
    rate = parse_rate(rate_text)
    now = time.time()
    window = int(now // rate.period)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{digest}:{window}"
    if cache.add(key, 1, rate.period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window began
            cache.add(key, 1, rate.period + 1)
            count = 1
    if count > rate.limit:
        raise RateLimited(max(1, math.ceil((window + 1) * rate.period - now)))


# One thread hop for the add-or-increment, instead of one per cache call.
ahit = sync_to_async(hit)
