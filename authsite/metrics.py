"""What the service counts, for Prometheus (prometheus-client), and GET /metrics.

Counting is on while METRICS_TOKEN is set; with it unset nothing is counted and
/metrics is 404. Under gunicorn (deploy/gunicorn.conf.py) PROMETHEUS_MULTIPROC_DIR is
set before any worker starts: each worker then writes its counts to its own files there
and a scrape of any worker adds up all of them (the library's multiprocess mode).
Otherwise the counts are the process's own.
"""

import asyncio
import os
import time

from django.conf import settings
from django.db import connections
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# The text format every Prometheus reads (the library's own answer to a scraper that
# asks for nothing newer); the names here need none of the newer format's escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

LOGINS_STARTED = Counter(
    "authsite_logins_started", "Logins sent to the identity provider (GET /auth/login)."
)
LOGINS_SUCCEEDED = Counter(
    "authsite_logins_succeeded", "Logins completed: a session was started and recorded."
)
LOGINS_FAILED = Counter(
    "authsite_logins_failed", "Logins that failed at the callback, by error code.", ["reason"]
)
IDP_REQUESTS = Histogram(
    "authsite_idp_request_duration_seconds",
    "Time until the identity provider's answer, by the path called.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
REFRESH_ROTATIONS = Counter(
    "authsite_refresh_rotations", "Refresh tokens rotated into a new pair (grace retries too)."
)
REFRESH_GRACE_RETRIES = Counter(
    "authsite_refresh_grace_retries",
    "Rotations of a token already spent, within REFRESH_REUSE_GRACE.",
)
REFRESH_REUSE = Counter(
    "authsite_refresh_reuse_detections",
    "Spent refresh tokens presented after the grace: their family is revoked.",
)
FAMILIES_REVOKED = Counter(
    "authsite_token_families_revoked", "Refresh token families revoked, by reason.", ["reason"]
)
RATE_LIMITED = Counter(
    "authsite_rate_limit_refusals", "Requests refused with 429, by limit.", ["limit"]
)
REQUESTS = Histogram(
    "authsite_http_request_duration_seconds",
    "Time to answer a request, by route, status and who answered (lane or django).",
    ["route", "status", "handler"],
    buckets=_LATENCY_BUCKETS,
)
POOL_WAITS = Counter(
    "authsite_db_pool_waits", "Requests for a pooled connection that had to wait.", ["pool"]
)
POOL_WAIT_SECONDS = Counter(
    "authsite_db_pool_wait_seconds", "Time spent waiting for a pooled connection.", ["pool"]
)
POOL_TIMEOUTS = Counter(
    "authsite_db_pool_timeouts",
    "Requests for a pooled connection that failed (timed out or refused).",
    ["pool"],
)

# Seconds between two readings of the connection pools' statistics in a server.
POOL_STATS_INTERVAL = 5.0

UNMATCHED_ROUTE = "unmatched"

_request_series = {}


def counting() -> bool:
    """Return whether metrics are on (METRICS_TOKEN is set)."""
    return bool(settings.METRICS_TOKEN)


def count(counter, *labels: str, amount: float = 1) -> None:
    """Add ``amount`` to ``counter`` (of ``labels``), when metrics are on."""
    if settings.METRICS_TOKEN:
        (counter.labels(*labels) if labels else counter).inc(amount)


def observe_request(route: str | None, status: int, handler: str, started: float) -> None:
    """Count a request answered since ``started`` (``time.perf_counter``), when metrics
    are on. ``route`` is Django's URL pattern, None when no pattern matched."""
    if not settings.METRICS_TOKEN:
        return
    key = (route, status, handler)
    series = _request_series.get(key)
    if series is None:
        series = REQUESTS.labels(route or UNMATCHED_ROUTE, str(status), handler)
        _request_series[key] = series
    series.observe(time.perf_counter() - started)


def record_pool_stats(lane_pool) -> None:
    """Count the waits and failures that this process's connection pools saw since the
    last call: Django's, and the fast lane's (``lane_pool``, authsite.fastlane) when it
    opened one on the running event loop."""
    lane = lane_pool.opened()
    for name, pool in (("django", _django_pool()), ("lane", lane and lane.pool)):
        if pool is None:
            continue
        stats = pool.pop_stats()
        for counter, key, scale in (
            (POOL_WAITS, "requests_queued", 1),
            (POOL_WAIT_SECONDS, "requests_wait_ms", 0.001),
            (POOL_TIMEOUTS, "requests_errors", 1),
        ):
            if stats.get(key):
                counter.labels(name).inc(stats[key] * scale)


def _django_pool():
    """Return the pool of Django's default database if it was opened, else None: the
    ``pool`` property would open one."""
    wrapper = connections["default"]
    return getattr(type(wrapper), "_connection_pools", {}).get(wrapper.alias)


async def record_pool_stats_periodically(lane_pool) -> None:
    """Run ``record_pool_stats`` every POOL_STATS_INTERVAL seconds, until cancelled."""
    while True:
        await asyncio.sleep(POOL_STATS_INTERVAL)
        record_pool_stats(lane_pool)


def exposition() -> bytes:
    """Return every count in Prometheus's text format: all workers' in multiprocess
    mode, else this process's. Blocking: it reads the workers' files."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry)
