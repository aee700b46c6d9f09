"""The four goals of issue 8, each run against both builds.

Placement on the 2 cores: one server process on core 0, the load generator (wrk, or
this process's asyncio client) and the identity provider on core 1, except for the
refresh goal, whose server has both cores. PostgreSQL and Redis are not pinned. Runs of
the two builds alternate, so that anything else the machine does weighs on both alike,
and each ratio is taken between runs made side by side.
"""

import asyncio
import hashlib
import json
import math
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import client, servers, wrk
from .idp_server import subject
from .prepare import ROOT
from .servers import Processes, Server, cpu_seconds, rss_mb, start_server, tcp_port_owners

SERVER_CPU = "0"
GENERATOR_CPU = "1"
BOTH_CPUS = "0,1"
LANDING = "http://127.0.0.1:5173/"
ME = "/api/v1/auth/me"


@dataclass
class Settings:
    """How long and how often: the command-line flags."""

    duration: float = 5.0
    runs: int = 5
    sweep_runs: int = 3
    warmup: float = 2.0
    goal_connections: tuple[int, ...] = (32, 64)
    sweep_connections: tuple[int, ...] = (1, 4, 16)
    memory_requests: int = 100_000
    memory_max_seconds: float = 180.0
    logins: int = 200
    storm_delay: float = 0.3
    wsgi_threads: int = 8
    refresh_batch: int = 1500
    refresh_concurrency: int = 64
    burst: int = 64
    profile_seconds: float = 10.0

    @property
    def connections(self) -> tuple[int, ...]:
        return tuple(sorted({*self.sweep_connections, *self.goal_connections}))

    def runs_at(self, connections: int) -> int:
        return self.runs if connections in self.goal_connections else self.sweep_runs


@dataclass
class Bench:
    """What every scenario needs: the servers' environment, the seeded tokens, where to
    write, and the process registry that cleans up."""

    settings: Settings
    env: dict
    processes: Processes
    seed: dict
    results: Path
    database_url: str
    admin_url: str
    database: str
    idp_url: str = ""
    refresh_used: int = 0

    def take_refresh_tokens(self, count: int) -> list[str]:
        tokens = self.seed["refresh_tokens"][self.refresh_used : self.refresh_used + count]
        if len(tokens) < count:
            raise RuntimeError("not enough refresh tokens were seeded; raise --refresh-tokens")
        self.refresh_used += count
        return tokens


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shows here."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


# --- a. the hot path ---------------------------------------------------------------------


@dataclass
class Memory:
    boot_mb: float
    warm_mb: float
    end_mb: float = 0.0
    requests: int = 0  # requests served between warm_mb and end_mb

    @property
    def growth(self) -> float:
        """Growth from the warmed-up worker (imports and caches loaded) to the end."""
        return (self.end_mb - self.warm_mb) / self.warm_mb if self.warm_mb else 0.0


@dataclass
class HotResult:
    labels: dict[str, str]
    runs: dict[str, dict[int, list[wrk.RunResult]]]
    ratios: dict[int, list[float]]  # per connection count, one ratio per side-by-side pair
    memory: dict[str, Memory]
    load: list[str] = field(default_factory=list)


def _meter(bench: "Bench", server: Server) -> servers.CpuMeter:
    return servers.CpuMeter(
        server=server.all_pids, db=lambda: servers.backend_pids(bench.database)
    ).start()


def _measured_run(bench, server: Server, script: Path, connections: int, seconds: float, path=ME):
    meter = _meter(bench, server)
    result = wrk.run(
        server.url + path,
        script,
        connections=connections,
        seconds=seconds,
        cpus=GENERATOR_CPU,
    )
    used = meter.stop()
    result.server_cpu, result.db_cpu = used["server"], used["db"]
    result.server_rss_mb = server.worker_rss_mb()
    _wait_until_idle(server)
    return result


def _wait_until_idle(server: Server, most: float = 10.0) -> None:
    """Wait until the server has answered what it still had queued when wrk stopped (a
    gunicorn sync worker has up to 63 requests in its backlog at 64 connections), so
    that the next run does not share core 0 with it: the ASGI runs that followed a WSGI
    run showed twice the p99 of those that followed an ASGI run."""
    deadline = time.monotonic() + most
    before = cpu_seconds(server.all_pids())
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_seconds(server.all_pids())
        if now - before < 0.01:  # under 5% of a core
            return
        before = now


def hot_path(bench: Bench) -> HotResult:
    """GET /api/v1/auth/me with a Bearer token at each concurrency, both builds side by
    side; then the memory goal on the same two workers."""
    s = bench.settings
    script = wrk.write_script(bench.results / "me.lua", bench.seed["access_tokens"])
    env = bench.env
    asgi = start_server(bench.processes, "asgi", env, cpus=SERVER_CPU, name="hot-asgi")
    wsgi = start_server(bench.processes, "wsgi", env, cpus=SERVER_CPU, name="hot-wsgi")
    pair = {"asgi": asgi, "wsgi": wsgi}
    memory = {build: Memory(rss_mb(srv.worker_pids()[0]), 0.0) for build, srv in pair.items()}
    for build, srv in pair.items():
        _measured_run(bench, srv, script, 32, s.warmup)
        memory[build].warm_mb = rss_mb(srv.worker_pids()[0])
    # The memory goal counts requests from the warmed-up worker on.
    served = dict.fromkeys(pair, 0)
    result = HotResult(
        labels={build: srv.label for build, srv in pair.items()},
        runs={build: {c: [] for c in s.connections} for build in pair},
        ratios={c: [] for c in s.connections},
        memory=memory,
        load=[loadavg()],
    )
    for connections in s.connections:
        for i in range(s.runs_at(connections)):
            # Alternate which build goes first, so neither always follows the other.
            order = ("asgi", "wsgi") if i % 2 == 0 else ("wsgi", "asgi")
            got = {}
            for build in order:
                got[build] = _measured_run(bench, pair[build], script, connections, s.duration)
                served[build] += got[build].requests
                result.runs[build][connections].append(got[build])
            if got["wsgi"].rps:
                result.ratios[connections].append(got["asgi"].rps / got["wsgi"].rps)
            print(
                f"  me c={connections:<3} asgi {got['asgi'].rps:7.0f} req/s "
                f"p99 {got['asgi'].p99_ms:6.1f} ms | wsgi {got['wsgi'].rps:7.0f} req/s "
                f"p99 {got['wsgi'].p99_ms:6.1f} ms",
                flush=True,
            )
    result.load.append(loadavg())
    _memory_top_up(bench, pair, script, served, result)
    for srv in pair.values():
        bench.processes.stop(srv.process)
    return result


def _memory_top_up(bench, pair, script, served, result: HotResult) -> None:
    """Serve each worker the rest of ``memory_requests``, one build after the other on
    core 0 at 64 connections, each bounded by ``memory_max_seconds``."""
    s = bench.settings
    for build, srv in pair.items():
        missing = max(0, s.memory_requests - served[build])
        if missing:
            rate = median(r.rps for r in result.runs[build][64] or [1])
            # wrk takes whole seconds
            seconds = math.ceil(min(missing / max(rate, 1.0) * 1.1 + 1, s.memory_max_seconds))
            print(f"  memory {build}: {missing} more requests, up to {seconds:.0f} s", flush=True)
            run = wrk.run(
                srv.url + "/api/v1/auth/me",
                script,
                connections=64,
                seconds=seconds,
                cpus=GENERATOR_CPU,
                timeout=10,
            )
            served[build] += run.requests
        result.memory[build].end_mb = rss_mb(srv.worker_pids()[0])
        result.memory[build].requests = served[build]


# --- b. the login storm ------------------------------------------------------------------


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
    """Which of DEFAULTED the project's .env sets: the settings read it for whatever the
    environment lacks, so the storm with the documented defaults would not have them."""
    dotenv = ROOT / ".env"
    text = dotenv.read_text() if dotenv.exists() else ""
    return [name for name in DEFAULTED if re.search(rf"^\s*(export\s+)?{name}\s*=", text, re.M)]


def server_settings(env: dict) -> tuple[int | None, str]:
    """(DB_POOL_MAX_SIZE, cache backend) as the project's settings read them from
    ``env``, in a process of their own."""
    out = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pool, cache = json.loads(out.splitlines()[-1])
    return pool or None, cache


class PeakConnections:
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
        self.admin_url, self.database, self.server = admin_url, database, server
        self.peak = self.peak_total = 0
        self._high = 0
        self._stop = threading.Event()

    def __enter__(self):
        import psycopg

        self._conn = psycopg.connect(self.admin_url, autocommit=True)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            rows = self._conn.execute(
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
            self._stop.wait(self.INTERVAL)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._conn.close()


def _set_token_delay(idp_url: str, seconds: float) -> None:
    request = urllib.request.Request(
        f"{idp_url}_bench/token-delay?seconds={seconds}", method="POST", data=b""
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def start_idp(bench: Bench, users: int, personal: int) -> str:
    """The identity provider in its own process on the generator's core, with ``users``
    people of the bench organisation and ``personal`` people of none; its issuer."""
    process = bench.processes.start(
        "idp",
        [sys.executable, "-m", "bench.idp_server", f"--users={users}", f"--personal={personal}"],
        bench.env,
        cpus=GENERATOR_CPU,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = next((ln for ln in process.output().splitlines() if ln.startswith("READY ")), "")
        if line:
            issuer = line.split(" ", 1)[1].strip()
            try:
                with urllib.request.urlopen(
                    issuer + ".well-known/openid-configuration", timeout=1
                ) as response:
                    if response.status == 200:
                        return issuer
            except OSError:
                pass
        if not process.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"the identity provider did not start:\n{process.output()}")


async def _prepare_logins(server: Server, idp_url: str, people: range) -> list[client.Request]:
    """For each of the provider's ``people`` (by number): GET /auth/login (the server's
    flow entry and auth_flow cookie), then the provider's /authorize with login_hint
    (approved at once): the callback request a browser would make next, with its cookie."""
    starts = await client.fire(
        "127.0.0.1", server.port, [client.Request("GET", "/auth/login")] * len(people), 8
    )
    authorizes, cookies = [], []
    for i, response in zip(people, starts.responses, strict=True):
        if response is None or response.status != 302:
            raise RuntimeError(f"/auth/login answered {response and response.status}")
        location = response.headers["location"]
        parts = urlsplit(location)
        authorizes.append(
            client.Request("GET", f"{parts.path}?{parts.query}&login_hint={subject(i)}")
        )
        cookies.append(response.cookies["auth_flow"])
    idp = urlsplit(idp_url)
    approvals = await client.fire(idp.hostname, idp.port, authorizes, 8)
    callbacks = []
    for response, cookie in zip(approvals.responses, cookies, strict=True):
        if response is None or response.status != 302:
            raise RuntimeError(f"/authorize answered {response and response.status}")
        parts = urlsplit(response.headers["location"])
        callbacks.append(
            client.Request(
                "GET", f"{parts.path}?{parts.query}", (("Cookie", f"auth_flow={cookie}"),)
            )
        )
    return callbacks


ERROR_CODE = re.compile(rb'id="error-code">([^<]*)<')


def _failure(response: client.Response | None) -> str:
    """How a failed login was answered: its status and the login error code of the
    error page (accounts/templates/accounts/login_error.html), e.g. "400 invalid_state"."""
    if response is None:
        return "no answer"
    code = ERROR_CODE.search(response.body)
    return f"{response.status} {code.group(1).decode()}" if code else str(response.status)


def _outcomes(batch: client.Batch) -> tuple[int, dict[str, int]]:
    """(logins answered with a 302 to the landing page, the others counted by answer)."""
    failures: dict[str, int] = {}
    ok = 0
    for response in batch.responses:
        if response and response.status == 302 and response.headers.get("location") == LANDING:
            ok += 1
        else:
            key = _failure(response)
            failures[key] = failures.get(key, 0) + 1
    return ok, failures


def _one_storm(bench: Bench, server: Server, count: int) -> StormRun:
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
    """200 concurrent callbacks against a provider whose token endpoint takes
    ``storm_delay`` seconds, and against an instant one, for both builds; with
    ``defaults``, DB_POOL_MAX_SIZE and CACHE_URL are absent from the servers'
    environment, so that the settings' documented defaults apply."""
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


# --- c. refresh ---------------------------------------------------------------------------


@dataclass
class RefreshRun:
    presented: int
    ok: int
    statuses: dict
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    worker_cpu: list[float]  # each worker's share: keep-alive connections stay where accepted
    db_cpu: float
    client_cpu: float
    server_rss_mb: float
    children: int  # presented tokens that now have exactly one child in the database

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass
class Burst:
    presented: int
    statuses: dict
    children: int  # must be exactly 1
    family_tokens: int
    family_revoked: bool

    @property
    def double_spends(self) -> int:
        return max(0, self.children - 1)


@dataclass
class RefreshResult:
    labels: dict[str, str]
    runs: dict[str, list[RefreshRun]]
    bursts: dict[str, Burst]


def refresh_request(token: str) -> client.Request:
    return client.Request(
        "POST",
        "/api/v1/auth/refresh",
        (("Content-Type", "application/json"),),
        json.dumps({"refresh_token": token}).encode(),
    )


def _hashes(tokens: list[str]) -> list[str]:
    """accounts.tokens.base.hash_token, without importing Django here."""
    return [hashlib.sha256(t.encode()).hexdigest() for t in tokens]


def _children(database_url: str, tokens: list[str]) -> int:
    """Presented tokens that are spent and have exactly one child; the unique parent
    column makes more than one impossible to store, which a 500 would show instead."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            """SELECT count(*) FROM accounts_refreshtoken parent
               WHERE parent.token_hash = ANY(%s) AND parent.used_at IS NOT NULL
               AND (SELECT count(*) FROM accounts_refreshtoken child
                    WHERE child.parent_id = parent.id) = 1""",
            (_hashes(tokens),),
        ).fetchone()[0]


def _latency(batch: client.Batch) -> tuple[float, float]:
    times = sorted(r.seconds * 1000 for r in batch.responses if r)
    if not times:
        return 0.0, 0.0
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def _refresh_run(bench: Bench, server: Server, tokens: list[str]) -> RefreshRun:
    workers = server.worker_pids()
    per_worker = [cpu_seconds([pid]) for pid in workers]
    meter = _meter(bench, server)
    own = time.process_time()
    batch = asyncio.run(
        client.fire(
            "127.0.0.1",
            server.port,
            [refresh_request(t) for t in tokens],
            bench.settings.refresh_concurrency,
        )
    )
    client_cpu = time.process_time() - own
    used = meter.stop()
    per_worker = [cpu_seconds([pid]) - b for pid, b in zip(workers, per_worker, strict=True)]
    statuses = batch.statuses()
    p50, p99 = _latency(batch)
    return RefreshRun(
        presented=len(tokens),
        ok=statuses.get(200, 0),
        statuses=statuses,
        seconds=batch.seconds,
        p50_ms=p50,
        p99_ms=p99,
        server_cpu=used["server"],
        worker_cpu=per_worker,
        db_cpu=used["db"],
        client_cpu=client_cpu,
        server_rss_mb=server.worker_rss_mb(),
        children=_children(bench.database_url, tokens),
    )


def _burst(bench: Bench, server: Server, token: str) -> Burst:
    import psycopg

    batch = asyncio.run(
        client.fire_at_once(
            "127.0.0.1", server.port, [refresh_request(token)] * bench.settings.burst
        )
    )
    with psycopg.connect(bench.database_url) as conn:
        family_tokens, revoked = conn.execute(
            """SELECT count(*), bool_or(f.revoked_at IS NOT NULL)
               FROM accounts_refreshtoken t JOIN accounts_tokenfamily f ON f.id = t.family_id
               WHERE t.family_id = (SELECT family_id FROM accounts_refreshtoken
                                    WHERE token_hash = %s)""",
            (_hashes([token])[0],),
        ).fetchone()
        children = conn.execute(
            """SELECT count(*) FROM accounts_refreshtoken child
               JOIN accounts_refreshtoken parent ON child.parent_id = parent.id
               WHERE parent.token_hash = %s""",
            (_hashes([token])[0],),
        ).fetchone()[0]
    return Burst(bench.settings.burst, batch.statuses(), children, family_tokens, bool(revoked))


def refresh(bench: Bench) -> RefreshResult:
    """Rotations per second with the server on both cores (2 worker processes each),
    every token presented exactly once; then one token presented ``burst`` times at
    once, checked in the database for a double spend."""
    s = bench.settings
    env = bench.env
    asgi = start_server(
        bench.processes, "asgi", env, workers=2, cpus=BOTH_CPUS, name="refresh-asgi"
    )
    wsgi = start_server(
        bench.processes, "wsgi", env, workers=2, cpus=BOTH_CPUS, name="refresh-wsgi"
    )
    pair = {"asgi": asgi, "wsgi": wsgi}
    result = RefreshResult(
        labels={b: srv.label for b, srv in pair.items()},
        runs={b: [] for b in pair},
        bursts={},
    )
    for srv in pair.values():  # warm-up: imports, pool, signing key
        _refresh_run(bench, srv, bench.take_refresh_tokens(max(50, s.refresh_batch // 10)))
    for i in range(s.runs):
        order = ("asgi", "wsgi") if i % 2 == 0 else ("wsgi", "asgi")
        for build in order:
            run = _refresh_run(bench, pair[build], bench.take_refresh_tokens(s.refresh_batch))
            result.runs[build].append(run)
            print(
                f"  refresh {build}: {run.ok}/{run.presented} in {run.seconds:.2f} s = "
                f"{run.rate:.0f}/s, p99 {run.p99_ms:.0f} ms, {run.children} single children",
                flush=True,
            )
    for n, (build, srv) in enumerate(pair.items()):
        result.bursts[build] = _burst(bench, srv, bench.seed["burst_tokens"][n])
    for srv in pair.values():
        bench.processes.stop(srv.process)
    return result


# --- reference: a bare Django view ------------------------------------------------------


REFERENCE_VARIANTS = (
    ("gunicorn sync, default middleware", "wsgi", "default"),
    ("uvicorn, default middleware", "asgi", "default"),
    ("uvicorn, no middleware", "asgi", "none"),
)


@dataclass
class ReferenceResult:
    runs: dict[str, list[wrk.RunResult]]  # variant label -> runs at 32 connections


def reference(bench: Bench) -> ReferenceResult:
    """bench/reference: Django's own cost per server on this machine today, at 32
    connections (issue 8's starting numbers were taken this way)."""
    s = bench.settings
    script = bench.results / "plain.lua"
    wrk.write_script(script, [])
    started = {
        label: servers.start_reference(bench.processes, bench.env, build, middleware, SERVER_CPU)
        for label, build, middleware in REFERENCE_VARIANTS
    }
    result = ReferenceResult(runs={label: [] for label in started})
    for srv in started.values():
        wrk.run(srv.url + "/json", script, connections=32, seconds=s.warmup, cpus=GENERATOR_CPU)
    for _ in range(s.sweep_runs):
        for label, srv in started.items():
            before = cpu_seconds(srv.all_pids())
            run = wrk.run(
                srv.url + "/json", script, connections=32, seconds=s.duration, cpus=GENERATOR_CPU
            )
            run.server_cpu = cpu_seconds(srv.all_pids()) - before
            run.server_rss_mb = srv.worker_rss_mb()
            result.runs[label].append(run)
            print(f"  reference {label}: {run.rps:.0f} req/s", flush=True)
    for srv in started.values():
        bench.processes.stop(srv.process)
    return result
