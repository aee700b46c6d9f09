"""A small async rate limiter on Django's cache, so that every server process sharing the
cache (Redis, or the database cache) counts together.

Fixed windows: the first hit of a window creates its counter with `add` (atomic), the
others `incr` it (atomic in Redis, the database cache and local memory). A rate is
"<count>/<unit>" with unit s, m, h or d (e.g. "30/m"). No maintained library fits here:
django-ratelimit is sync only, and `limits` keeps its own storage instead of the
project's cache.

With a Redis cache, ``ahit`` and ``ahit_each`` count on the event loop: one script
increments the cache's own keys and starts each one's expiry on its window's first hit,
atomically, in one round trip, with redis-py's asyncio client (one per event loop, on
the cache's first LOCATION, kept on the loop itself as accounts/login/oidc/http.py keeps its
transport: one for an ASGI process; under WSGI, where each request runs a loop of its
own, it goes away with that loop). The sync ``hit_each`` runs the same script through
the thread's cache client, so every count with Redis is one round trip. The counter is
the integer Django's Redis backends store. Other caches are counted with ``add`` and
``incr``, from async code in a thread.
"""

import asyncio
import hashlib
import math
import re
import time
from dataclasses import dataclass

import redis.asyncio
from django.conf import settings
from django_redis.cache import RedisCache
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from authsite import metrics
from authsite.db import in_thread, thread_cache

from .api.base import ApiError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int


def parse_rate(text: str) -> Rate:
    """Return the Rate a text states: "30/m" → Rate(30, 60); "100/5m" → Rate(100, 300).
    Raise ValueError for anything else."""
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


def _window(scope: str, subject: str, rate_text: str) -> tuple[Rate, str, int, float]:
    """Return (rate, cache key, window number, now) of one hit."""
    rate = parse_rate(rate_text)
    now = time.time()
    window = int(now // rate.period)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return rate, f"ratelimit:{scope}:{digest}:{window}", window, now


def _judge(scope: str, count: int, rate: Rate, window: int, now: float) -> None:
    """Raise RateLimited, counted in the metrics, when ``count`` passes the limit."""
    if count > rate.limit:
        metrics.count(metrics.RATE_LIMITED, scope)
        raise RateLimited(max(1, math.ceil((window + 1) * rate.period - now)))


def hit(scope: str, subject: str | None, rate_text: str) -> None:
    """Count one request of ``subject`` (an IP, a user id) in ``scope``; raise
    RateLimited (429 with Retry-After) once the window's limit is passed. Sync: call it
    inside a unit of work that already runs in a thread, or through ``ahit``."""
    hit_each((scope, subject, rate_text))


def hit_each(*limits: tuple[str, str | None, str]) -> None:
    """Count as ``hit`` does each ``(scope, subject, rate)`` in turn; raise RateLimited
    at the first limit passed. With a Redis cache, in one round trip (the script
    ``ahit_each`` runs); with another, through its atomic ``add`` and ``incr``."""
    limits = [limit for limit in limits if limit[1]]
    if not limits:
        return
    windows = [_window(*limit) for limit in limits]
    cache = thread_cache()
    if isinstance(cache, RedisCache):
        keys = [cache.make_key(key) for _, key, _, _ in windows]
        client = cache.client.get_client(write=True)
        counts = client.eval(_COUNT, len(keys), *keys, *_script_arguments(windows))
    else:
        counts = []
        for rate, key, _, _ in windows:
            counts.append(_count_in_cache(cache, key, rate))
            if counts[-1] > rate.limit:
                break
    _judge_each(counts, limits, windows)


def _judge_each(counts, limits, windows) -> None:
    """Judge each limit's count, in order; raise RateLimited at the first passed. A
    count stops at the first limit passed, so ``counts`` may be shorter than ``limits``."""
    for count, (scope, *_), (rate, _, window, now) in zip(counts, limits, windows, strict=False):
        _judge(scope, count, rate, window, now)


def _count_in_cache(cache, key: str, rate: Rate) -> int:
    """Return the count of ``key`` after one more hit, through the cache's ``add`` (the
    window's first hit) or ``incr``."""
    if cache.add(key, 1, rate.period + 1):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window began
        cache.add(key, 1, rate.period + 1)
        return 1


def _script_arguments(windows) -> list[int]:
    """Return ``_COUNT``'s arguments for the windows: each key's expiry and limit."""
    return [value for rate, _, _, _ in windows for value in (rate.period + 1, rate.limit)]


# Never in asyncio's default executor, whose threads would keep a database cache's
# connection out of the pool (authsite/db.py).
_ahit_each_in_thread = in_thread(hit_each)
# Each key in turn: INCR, the window's expiry on its first hit, and a stop at the first
# count past its limit, as successive ``hit`` calls stop at the first RateLimited.
_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[2 * i - 1]) end
  counts[i] = count
  if count > tonumber(ARGV[2 * i]) then break end
end
return counts
"""
_LOOP_ATTRIBUTE = "_authsite_ratelimit_redis"


async def ahit(scope: str, subject: str | None, rate_text: str) -> None:
    """Count as ``hit`` does, from async code (``ahit_each`` with one limit)."""
    await ahit_each((scope, subject, rate_text))


async def ahit_each(*limits: tuple[str, str | None, str]) -> None:
    """Count as ``hit`` does each ``(scope, subject, rate)`` in turn, from async code: on
    the event loop in one round trip with a Redis cache, else in one thread hop. Raise
    RateLimited at the first limit passed, and redis.RedisError when Redis cannot be
    reached, as ``hit`` raises its cache's."""
    limits = [limit for limit in limits if limit[1]]
    if not limits:
        return
    client = redis_client()
    if client is None:
        return await _ahit_each_in_thread(*limits)
    windows = [_window(*limit) for limit in limits]
    keys = [thread_cache().make_key(key) for _, key, _, _ in windows]
    counts = await client.eval(_COUNT, len(keys), *keys, *_script_arguments(windows))
    _judge_each(counts, limits, windows)


def redis_client():
    """Return the asyncio Redis client of the running loop, or None when the cache is
    not Redis."""
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" not in backend.lower():
        return None
    loop = asyncio.get_running_loop()
    client = getattr(loop, _LOOP_ATTRIBUTE, None)
    if client is None:
        cache_settings = settings.CACHES["default"]
        location = cache_settings["LOCATION"]
        if not isinstance(location, str):
            location = location[0]
        # Bounded like the sync cache's pool (authsite/settings.py): past its size a
        # hit waits for a connection instead of failing, as in a storm of logins.
        sizes = cache_settings.get("OPTIONS", {}).get("CONNECTION_POOL_KWARGS", {})
        # A connection that Redis closed (a restart) is replaced and the script sent
        # again, as the sync cache's pool does (authsite/settings.py).
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            location.split(",")[0],
            max_connections=sizes.get("max_connections", 50),
            timeout=sizes.get("timeout", 5),
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[redis.ConnectionError],
        )
        client = redis.asyncio.Redis.from_pool(pool)
        setattr(loop, _LOOP_ATTRIBUTE, client)
    return client


async def aclose() -> None:
    """Close the running loop's Redis client, if it has one (a server's shutdown)."""
    loop = asyncio.get_running_loop()
    client = getattr(loop, _LOOP_ATTRIBUTE, None)
    if client is not None:
        delattr(loop, _LOOP_ATTRIBUTE)
        await client.aclose()
