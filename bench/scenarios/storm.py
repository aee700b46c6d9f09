"""The login storm: concurrent login callbacks against a slow and an instant
identity provider, both builds side by side, with the bench's pool and cache or with
the settings' documented defaults, and the database connections each server held."""

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from .. import client
from ..prepare import ROOT
from ..servers import Server, start_server, tcp_port_owners
from .base import SERVER_CPU, ActivitySampler, Bench, _latency, _meter
from .logins import _outcomes, _prepare_logins, _set_token_delay


@dataclass
class StormRun:
    logins: int
    ok: int
    failures: dict[str, int]
    seconds: float
    p50_ms: float
    p99_ms: float
    peak_db_connections: int  # the most one server process held at once
    peak_db_total: int  # every connection to the bench database
    server_cpu: float
    db_cpu: float
    client_cpu: float
    server_rss_mb: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass
class StormResult:
    title: str  # "tuned" or "documented defaults"
    environment: str  # what the servers' environment says of the pool and the cache
    prefix: str  # of the servers' names and logs (bench/results/<prefix>-asgi.log)
    labels: dict[str, str]
    delays: tuple[float, float]  # (slow, instant)
    runs: dict[str, dict[float, list[StormRun]]]
    pool_max: int | None  # DB_POOL_MAX_SIZE as the servers' settings read it; None: no pool
    cache: str  # the servers' cache backend
    wsgi_threads: int
    db_max_connections: int = 0


# Unset for the storm with the documented defaults.
DEFAULTED = ("DB_POOL_MAX_SIZE", "CACHE_URL")
SETTINGS_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([getattr(s, 'DB_POOL_MAX_SIZE', None), s.CACHES['default']['BACKEND']]))"
)


def set_in_dotenv() -> list[str]:
    """Return which of DEFAULTED the project's .env sets: the settings read it for
    whatever the environment lacks, so the storm with the documented defaults would not
    have them."""
    dotenv = ROOT / ".env"
    text = dotenv.read_text() if dotenv.exists() else ""
    return [name for name in DEFAULTED if re.search(rf"^\s*(export\s+)?{name}\s*=", text, re.M)]


def server_settings(env: dict) -> tuple[int | None, str]:
    """Return (DB_POOL_MAX_SIZE, cache backend) as the project's settings read them
    from ``env``, in a process of their own."""
    out = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pool, cache = json.loads(out.splitlines()[-1])
    return pool or None, cache


class PeakConnections(ActivitySampler):
    """Samples pg_stat_activity for one database every 20 ms in a thread: ``peak`` is
    the most connections one server process held, ``peak_total`` the most the database
    had (the sampler itself is connected to another database).

    The server's connections are those of its application_name (the fast lane's
    "<name> fast lane" included). Whenever their total reaches a new high they are
    counted per process by client port, which /proc maps to the socket's owner (reading
    /proc's socket table takes milliseconds on a busy machine: not every 20 ms); a
    connection closed before /proc is read counts for every process, an upper bound.
    With one serving process, as in the storms, its peak is the server's."""

    INTERVAL = 0.02

    def __init__(self, admin_url: str, database: str, server: Server):
        super().__init__(admin_url)
        self.database, self.server = database, server
        self.peak = self.peak_total = 0
        self._high = 0

    def sample(self, conn) -> None:
        rows = conn.execute(
            "SELECT client_port, split_part(application_name, ' ', 1) = %s "
            "FROM pg_stat_activity WHERE datname = %s",
            (self.server.name, self.database),
        ).fetchall()
        ports = [port for port, mine in rows if mine]
        if len(ports) > self._high:
            self._high = len(ports)
            owners = tcp_port_owners(self.server.all_pids())
            held = Counter(owners.get(port) for port in ports)
            closed = held.pop(None, 0)
            self.peak = max(self.peak, closed + max(held.values(), default=0))
        self.peak_total = max(self.peak_total, len(rows))


def _one_storm(bench: Bench, server: Server, count: int) -> StormRun:
    """Prepare ``count`` logins, send their callbacks at once, and return the run."""
    callbacks = asyncio.run(_prepare_logins(server, bench.idp_url, range(count)))
    with PeakConnections(bench.admin_url, bench.database, server) as peak:
        meter = _meter(bench, server)
        own = time.thread_time()  # the client's thread: not the sampler's
        batch = asyncio.run(client.fire_at_once("127.0.0.1", server.port, callbacks))
        client_cpu = time.thread_time() - own
        used = meter.stop()
    ok, failures = _outcomes(batch)
    p50, p99 = _latency(batch)
    return StormRun(
        logins=count,
        ok=ok,
        failures=failures,
        seconds=batch.seconds,
        p50_ms=p50,
        p99_ms=p99,
        peak_db_connections=peak.peak,
        peak_db_total=peak.peak_total,
        server_cpu=used["server"],
        db_cpu=used["db"],
        client_cpu=client_cpu,
        server_rss_mb=server.worker_rss_mb(),
    )


def login_storm(bench: Bench, defaults: bool = False) -> StormResult:
    """Send 200 concurrent callbacks against a provider whose token endpoint takes
    ``storm_delay`` seconds, and against an instant one, for both builds; return the
    result. With ``defaults``, DB_POOL_MAX_SIZE and CACHE_URL are absent from the
    servers' environment, so that the settings' documented defaults apply."""
    s = bench.settings
    if defaults:
        env = {k: v for k, v in bench.env.items() if k not in DEFAULTED}
        title, environment, prefix = "documented defaults", "neither set", "storm-defaults"
    else:
        env = bench.env
        cache = "Redis" if env["CACHE_URL"].startswith("redis") else env["CACHE_URL"]
        environment = f"DB_POOL_MAX_SIZE={env['DB_POOL_MAX_SIZE']}, CACHE_URL {cache}"
        title, prefix = "tuned", "storm"
    pool_max, cache_backend = server_settings(env)
    asgi = start_server(bench.processes, "asgi", env, cpus=SERVER_CPU, name=f"{prefix}-asgi")
    wsgi = start_server(
        bench.processes, "wsgi", env, threads=s.wsgi_threads, cpus=SERVER_CPU,
        name=f"{prefix}-wsgi",
    )  # fmt: skip
    pair = {"asgi": asgi, "wsgi": wsgi}
    delays = (s.storm_delay, 0.0)
    result = StormResult(
        title=title,
        environment=environment,
        prefix=prefix,
        labels={b: srv.label for b, srv in pair.items()},
        delays=delays,
        runs={b: {d: [] for d in delays} for b in pair},
        pool_max=pool_max,
        cache=cache_backend,
        wsgi_threads=s.wsgi_threads,
    )
    # A first storm per build creates the 200 people (first logins) unless an earlier
    # storm did, and fills the servers' discovery and JWKS caches; the measured storms
    # are returning logins.
    _set_token_delay(bench.idp_url, 0.0)
    for build, srv in pair.items():
        warm = _one_storm(bench, srv, s.logins)
        if warm.failures:
            print(
                f"  warm-up {prefix} {build}: {warm.ok}/{warm.logins}, {warm.failures}", flush=True
            )
    for i in range(s.runs):
        for delay in delays:
            _set_token_delay(bench.idp_url, delay)
            order = ("asgi", "wsgi") if i % 2 == 0 else ("wsgi", "asgi")
            for build in order:
                run = _one_storm(bench, pair[build], s.logins)
                result.runs[build][delay].append(run)
                print(
                    f"  {prefix} {build} delay {delay * 1000:.0f} ms: {run.ok}/{run.logins} in "
                    f"{run.seconds:.2f} s = {run.rate:.0f} logins/s, "
                    f"peak {run.peak_db_connections} db connections per process"
                    + (f", failed: {run.failures}" if run.failures else ""),
                    flush=True,
                )
    for srv in pair.values():
        bench.processes.stop(srv.process)
    return result
