"""Every JSON endpoint on the fast lane's server and on Django's own path,
beside the bare-Django reference in the same run, and the login callback's server CPU
per login on Django's path (`python -m bench --only endpoints`).

Four servers on core 0, side by side and measured one at a time, wrk on core 1:
uvicorn with FAST_LANE=true (the lane answers Bearer ``/me``; every other request goes
to Django in the same process), uvicorn with FAST_LANE=false (Django answers
everything), gunicorn sync with 1 worker serving the WSGI application (Django's path,
the async views run through async_to_sync), all three with the bench's environment, and
bench/reference under gunicorn sync with 1 worker. Each round measures the reference's
``/json`` and every endpoint on the three servers at one connection count; the order
reverses every other round, so that each ratio to the reference is taken between runs
made side by side.

The logins: the callbacks of people who logged in before (returning) and of people
never seen (first: a new user and a new personal organisation), prepared as the login
storm prepares them and sent a few at a time, so that the server's CPU per login is
the cost of a login rather than of a storm.
"""

import asyncio
from dataclasses import dataclass, field

from . import client, servers, wrk
from .scenarios.base import (
    GENERATOR_CPU,
    ME,
    SERVER_CPU,
    Bench,
    Settings,
    _measured_run,
    _meter,
    loadavg,
    median,
)
from .scenarios.logins import _outcomes, _prepare_logins, _set_token_delay
from .servers import start_server

ENDPOINTS = {  # name -> (method, path), each with a Bearer app access token
    "me": ("GET", ME),
    "features": ("GET", "/api/v1/features"),
    "applications": ("GET", "/api/v1/applications"),
    "csrf": ("GET", "/api/v1/auth/csrf"),
    "sessions": ("GET", "/api/v1/auth/sessions"),
    "token": ("POST", "/api/v1/auth/token"),
}
LANE_ANSWERS = {"me"}  # what the lane answers itself; the rest goes on to Django
PATHS = ("lane", "django", "wsgi")
REFERENCE, REFERENCE_PATH = "reference", "/json"
GOAL_ENDPOINTS = ("me", "features", "applications", "token")
GOAL_RATIO = 0.33  # of the reference's req/s, on Django's path
GOAL_P99_MS = 100.0
P99_CONNECTIONS = 64
LOGIN_GOALS_MS = {"returning": 3.0, "first": 8.0}  # server CPU per login
LOGIN_CONCURRENCY = 8
SUMMARY_CONNECTIONS = 32


def run_seconds(settings: Settings) -> int:
    """Return the length of each wrk run: half of ``--duration`` in whole seconds
    (wrk's unit), at least 1; there are 19 runs a round and 2 × ``runs`` rounds."""
    return max(1, int(settings.duration) // 2)


def first_logins(settings: Settings) -> int:
    """Return how many people the provider needs beyond the storm's for the first logins
    of one measurement."""
    return settings.runs * settings.logins


# The servers' environment without these is the documented defaults: the pool's default
# size, and the local-memory cache (so no shared access cache).
TUNED_SETTINGS = ("CACHE_URL", "DB_POOL_MAX_SIZE")


@dataclass
class LoginRun:
    """One batch of logins and the CPU the server and the database spent on it."""

    kind: str  # "returning" or "first"
    logins: int
    ok: int
    failures: dict[str, int]
    seconds: float
    server_cpu: float
    db_cpu: float

    @property
    def ms_per_login(self) -> float:
        return 1000 * self.server_cpu / self.ok if self.ok else 0.0

    @property
    def db_ms_per_login(self) -> float:
        return 1000 * self.db_cpu / self.ok if self.ok else 0.0


@dataclass
class EndpointsResult:
    """Every run of the scenario, and the medians, ratios and goals drawn from them."""

    labels: dict[str, str]  # "lane", "django", "reference" -> the server, e.g. "uvicorn, 1 worker"
    seconds: int  # of each wrk run
    # server -> endpoint (the reference's: "json") -> connections -> runs, one per round
    runs: dict[str, dict[str, dict[int, list[wrk.RunResult]]]]
    logins: dict[str, list[LoginRun]] = field(default_factory=dict)
    load: list[str] = field(default_factory=list)
    defaults: bool = False  # the project's servers ran with the documented defaults

    @property
    def connections(self) -> list[int]:
        return sorted(self.runs[REFERENCE]["json"])

    def rps(self, server: str, endpoint: str, connections: int) -> float:
        return median(r.rps for r in self.runs[server][endpoint][connections])

    def p99(self, server: str, endpoint: str, connections: int) -> float:
        return median(r.p99_ms for r in self.runs[server][endpoint][connections])

    def cpu_ms(self, server: str, endpoint: str, connections: int) -> float:
        """Return the median server CPU time per answered request, in ms."""
        runs = self.runs[server][endpoint][connections]
        return median(1000 * r.server_cpu / max(r.requests, 1) for r in runs)

    def errors(self, server: str, endpoint: str) -> int:
        return sum(r.errors for runs in self.runs[server][endpoint].values() for r in runs)

    def ratio(self, endpoint: str, connections: int) -> float:
        """Return the median, over the rounds, of Django's path's req/s on ``endpoint``
        divided by the reference's in the same round."""
        pairs = zip(
            self.runs["django"][endpoint][connections],
            self.runs[REFERENCE]["json"][connections],
            strict=True,
        )
        return median(run.rps / ref.rps for run, ref in pairs if ref.rps)

    def goal_met(self, endpoint: str) -> bool | None:
        """Return whether Django's path meets its goal on ``endpoint`` (None when
        it has none): the ratio at every connection count, the p99 at 64."""
        if endpoint not in GOAL_ENDPOINTS:
            return None
        ratios = all(self.ratio(endpoint, c) >= GOAL_RATIO for c in self.connections)
        p99 = self.p99("django", endpoint, P99_CONNECTIONS) < GOAL_P99_MS
        return ratios and p99 and self.errors("django", endpoint) == 0

    def ms_per_login(self, kind: str) -> float:
        return median(r.ms_per_login for r in self.logins[kind])

    def login_goal_met(self, kind: str) -> bool:
        failed = sum(r.logins - r.ok for r in self.logins[kind])
        return failed == 0 and self.ms_per_login(kind) <= LOGIN_GOALS_MS[kind]

    def summary(self) -> list[str]:
        """Return the closing lines: each goal endpoint's ratio to the reference, and
        the server CPU per login of each kind."""
        c = SUMMARY_CONNECTIONS
        ratios = ", ".join(f"{name} {self.ratio(name, c):.2f}x" for name in GOAL_ENDPOINTS)
        logins = ", ".join(
            f"{kind} {self.ms_per_login(kind):.2f} ms (goal {LOGIN_GOALS_MS[kind]:g})"
            for kind in self.logins
        )
        which = ", documented defaults" if self.defaults else ""
        return [
            f"endpoints: {ratios} of reference (Django path, c={c}{which})",
            f"logins: server CPU per login {logins} (Django path{which})",
        ]


def _start(bench: Bench, defaults: bool) -> dict[str, servers.Server]:
    """Start the lane's server, Django's path under ASGI and WSGI (with the documented
    defaults when ``defaults``), and the reference, all on core 0."""
    started = {}
    base = {k: v for k, v in bench.env.items() if not (defaults and k in TUNED_SETTINGS)}
    for path, build, lane in (("lane", "asgi", "true"), ("django", "asgi", "false"),
                              ("wsgi", "wsgi", "false")):  # fmt: skip
        env = {**base, "FAST_LANE": lane}
        name = f"endpoints-{path}"
        started[path] = start_server(bench.processes, build, env, cpus=SERVER_CPU, name=name)
    started[REFERENCE] = servers.start_reference(
        bench.processes, bench.env, "wsgi", "default", SERVER_CPU
    )
    return started


def _round_line(result: EndpointsResult, connections: int, n: int) -> str:
    """Return one round's line: the reference's req/s, then each endpoint's req/s on
    Django's path, on the lane's server and under WSGI, and any errors."""
    last = {
        server: {name: runs[connections][n] for name, runs in result.runs[server].items()}
        for server in result.runs
    }
    cells = [f"reference {last[REFERENCE]['json'].rps:.0f}"]
    errors = []
    for name in ENDPOINTS:
        django, lane, wsgi = (last[p][name] for p in ("django", "lane", "wsgi"))
        cells.append(
            f"{name} {django.rps:.0f}/{lane.rps:.0f}/{wsgi.rps:.0f} p99 {django.p99_ms:.0f}"
        )
        errors += [f"{name} {p} {last[p][name].errors}" for p in PATHS if last[p][name].errors]
    return (
        f"  endpoints c={connections:<3} run {n + 1}: "
        + " | ".join(cells)
        + " (req/s Django path/lane/WSGI, p99 ms Django path)"
        + (f"; errors: {', '.join(errors)}" if errors else "")
    )


def _rounds(bench: Bench, started: dict, result: EndpointsResult, lines: list[str]) -> None:
    """Measure every endpoint on the three servers and the reference, ``runs`` rounds at
    each goal connection count, the order reversed every other round."""
    s = bench.settings
    tokens = bench.seed["access_tokens"]
    scripts = {
        method: wrk.write_script(bench.results / f"endpoints-{method.lower()}.lua", tokens, method)
        for method in ("GET", "POST")
    }
    plain = wrk.write_script(bench.results / "plain.lua", [])
    plan = [(REFERENCE, "json", plain, REFERENCE_PATH)] + [
        (server, name, scripts[method], path)
        for name, (method, path) in ENDPOINTS.items()
        for server in PATHS
    ]
    for server, _, script, path in plan:  # warm-up: imports, pools, compiled queries
        wrk.run(started[server].url + path, script, connections=32, seconds=1, cpus=GENERATOR_CPU)
    for connections in s.goal_connections:
        for n in range(s.runs):
            for server, name, script, path in plan if n % 2 == 0 else plan[::-1]:
                run = _measured_run(
                    bench, started[server], script, connections, result.seconds, path
                )
                result.runs[server][name][connections].append(run)
            lines.append(_round_line(result, connections, n))
            print(lines[-1], flush=True)


def _login_run(bench: Bench, server: servers.Server, people: range, kind: str) -> LoginRun:
    """Log ``people`` in (the provider's, by number), LOGIN_CONCURRENCY callbacks at a
    time, and count the server's CPU over the callbacks alone."""
    callbacks = asyncio.run(_prepare_logins(server, bench.idp_url, people))
    meter = _meter(bench, server)
    batch = asyncio.run(client.fire("127.0.0.1", server.port, callbacks, LOGIN_CONCURRENCY))
    used = meter.stop()
    ok, failures = _outcomes(batch)
    return LoginRun(kind, len(people), ok, failures, batch.seconds, used["server"], used["db"])


def _logins(
    bench: Bench, server: servers.Server, result: EndpointsResult, lines: list[str], offset: int
) -> None:
    """Measure returning and first logins on Django's path, ``runs`` of each, the
    order alternating.

    The provider's first ``logins`` people are the storm's, of the bench organisation:
    a warm-up logs them in (if no storm did) and fills the server's discovery and JWKS
    caches. The people after them have no organisation; each run of first logins takes
    ``logins`` of them never seen before, from ``offset`` on (each measurement its own
    ``first_logins``)."""
    s = bench.settings
    _set_token_delay(bench.idp_url, 0.0)
    returning = range(s.logins)
    warm = _login_run(bench, server, returning, "warm-up")
    if not warm.ok:  # each would wait out its timeouts: minutes for nothing
        raise RuntimeError(f"no login succeeded ({warm.failures}): {server.process.log}")
    if warm.failures:
        print(f"  warm-up logins: {warm.ok}/{warm.logins}, {warm.failures}", flush=True)
    result.logins = {"returning": [], "first": []}
    for n in range(s.runs):
        first = range(s.logins * (n + 1) + offset, s.logins * (n + 2) + offset)
        order = (("returning", returning), ("first", first))
        for kind, people in order if n % 2 == 0 else order[::-1]:
            run = _login_run(bench, server, people, kind)
            result.logins[kind].append(run)
            lines.append(
                f"  login {kind:<9} run {n + 1}: {run.ok}/{run.logins} in {run.seconds:.2f} s, "
                f"{run.ms_per_login:.2f} ms server CPU and {run.db_ms_per_login:.2f} ms DB "
                "CPU per login" + (f", failed: {run.failures}" if run.failures else "")
            )
            print(lines[-1], flush=True)


def measure(bench: Bench, defaults: bool = False, offset: int = 0) -> EndpointsResult:
    """Run the scenario (see the module), with the documented defaults when
    ``defaults``, its first logins from the provider's person ``offset`` on (after the
    storm's); write its lines to bench/results/endpoints.txt (endpoints-defaults.txt)
    and return the result."""
    started = _start(bench, defaults)
    result = EndpointsResult(
        labels={server: srv.label for server, srv in started.items()},
        seconds=run_seconds(bench.settings),
        runs={
            server: {
                name: {c: [] for c in bench.settings.goal_connections}
                for name in (["json"] if server == REFERENCE else ENDPOINTS)
            }
            for server in started
        },
        load=[loadavg()],
        defaults=defaults,
    )
    lines: list[str] = []
    _rounds(bench, started, result, lines)
    _logins(bench, started["django"], result, lines, offset)
    result.load.append(loadavg())
    for srv in started.values():
        bench.processes.stop(srv.process)
    for line in result.summary():
        lines.append(line)
        print(line, flush=True)
    name = "endpoints-defaults.txt" if defaults else "endpoints.txt"
    (bench.results / name).write_text("\n".join(lines) + "\n")
    return result
