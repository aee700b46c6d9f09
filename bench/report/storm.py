"""The login storm's tables in docs/benchmarks.md: each setting's environment, the runs
of both builds at each provider delay, and the goals met per setting."""

from ..scenarios.base import median
from ..scenarios.storm import PeakConnections, StormResult
from ..tables import fmt, verdict

GOAL_STORM_RATIO = 0.8


def _storm_runs(storm: StormResult, build: str) -> list:
    """Return a build's measured runs at every provider delay."""
    return [r for delay in storm.delays for r in storm.runs[build][delay]]


def _storm_failures(storm: StormResult, build: str) -> dict[str, int]:
    """Failed logins of a build's measured storms, by answer (e.g. "400 invalid_state")."""
    counts: dict[str, int] = {}
    for run in _storm_runs(storm, build):
        for answer, count in run.failures.items():
            counts[answer] = counts.get(answer, 0) + count
    return counts


def _storm_ratio(storm: StormResult, build: str) -> float:
    """Return a build's median logins/s with the slow provider over the instant one's."""
    slow, instant = (median(r.rate for r in storm.runs[build][d]) for d in storm.delays)
    return slow / instant if instant else 0.0


def _storm_db_cpu(storm: StormResult, runs) -> str:
    """The backends' median CPU; n/a without a pool, whose short-lived backends the
    meter misses."""
    if storm.pool_max is None:
        return "n/a"
    return f"{fmt(median(100 * r.db_cpu / r.seconds for r in runs))}%"


def _storm_goals(storm: StormResult) -> list[tuple[str, str]]:
    """(goal, verdict with its number) for one storm's settings."""
    pool = storm.pool_max
    cells = []
    for build in ("asgi", "wsgi"):
        failures = _storm_failures(storm, build)
        failed = sum(failures.values())
        answers = ", ".join(f"{count} × {answer}" for answer, count in failures.items())
        cells.append(
            (
                f"{build.upper()} ({storm.labels[build]}): 0 failed logins",
                f"{verdict(failed == 0)}: {failed}" + (f" ({answers})" if answers else ""),
            )
        )
    for build in ("asgi", "wsgi"):
        peak = max((r.peak_db_connections for r in _storm_runs(storm, build)), default=0)
        cells.append(
            (
                f"{build.upper()}: peak DB connections per process ≤ DB_POOL_MAX_SIZE",
                f"{verdict(pool is not None and peak <= pool)}: {peak} of "
                f"{pool if pool is not None else 'no pool'}",
            )
        )
    ratio = _storm_ratio(storm, "asgi")
    cells.append(
        (
            f"ASGI slow/instant ≥ {GOAL_STORM_RATIO}",
            f"{verdict(ratio >= GOAL_STORM_RATIO)}: {ratio:.2f}×",
        )
    )
    return cells


def storm_section(storms: list[StormResult]) -> list[str]:
    """Return the login storm's section: each setting's environment, the runs and
    the goals of every storm (a stub when none ran)."""
    if not storms:
        return ["## 2. Login storm", "", "_Not run._", ""]
    first = storms[0]
    slow = first.delays[0]
    logins = next((r.logins for r in _storm_runs(first, "asgi")), 0)
    out = [
        f"## 2. Login storm: {logins} concurrent callbacks",
        "",
        f"Each login is prepared first (GET /auth/login, then the provider's /authorize "
        f"with login_hint), then the {logins} callbacks (`/auth/callback?code&state` with "
        "the `auth_flow` cookie) are sent at once on their own connections; logins/s = "
        "answered 302s to the landing page / wall time of that phase. The provider runs "
        "in its own process on core 1 and its token endpoint waits the stated delay. "
        f"Servers on core 0: {first.labels['asgi']}; {first.labels['wsgi']}. PostgreSQL "
        f"allows {first.db_max_connections} connections. The people already exist (a "
        "first storm per build made them), so these are returning logins.",
        "",
        "The storm runs once per setting, each with a pair of servers of its own: "
        "**tuned** is the bench's environment; **documented defaults** is the same "
        "environment with DB_POOL_MAX_SIZE and CACHE_URL absent (not empty), so the "
        "settings' defaults apply. What the settings make of each environment is read by "
        "Django itself, in a process started with it.",
        "",
        "| settings | servers' environment | DB_POOL_MAX_SIZE in the settings | cache backend | "
        "peak DB conns, whole database |",
        "|---|---|---:|---|---:|",
    ]
    for storm in storms:
        total = max((r.peak_db_total for b in storm.runs for r in _storm_runs(storm, b)), default=0)
        out.append(
            f"| {storm.title} | {storm.environment} | "
            f"{storm.pool_max if storm.pool_max is not None else 'none: no pool'} | "
            f"`{storm.cache}` | {total} of {storm.db_max_connections} |"
        )
    out += [
        "",
        "| settings | build | provider delay | runs | logins/s | phase s | p50 ms | p99 ms | "
        "failed | peak DB conns per process | server CPU | ms CPU/login | DB CPU | "
        "client CPU | worker RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    for storm in storms:
        for build in ("asgi", "wsgi"):
            for delay in storm.delays:
                runs = storm.runs[build][delay]
                if not runs:
                    continue
                out.append(
                    f"| {storm.title} | {build.upper()} | {fmt(delay * 1000)} ms | "
                    f"{len(runs)} | {fmt(median(r.rate for r in runs))} | "
                    f"{fmt(median(r.seconds for r in runs), 2)} | "
                    f"{fmt(median(r.p50_ms for r in runs))} | "
                    f"{fmt(median(r.p99_ms for r in runs))} | "
                    f"{sum(r.logins - r.ok for r in runs)} | "
                    f"{max(r.peak_db_connections for r in runs)} | "
                    f"{fmt(median(100 * r.server_cpu / r.seconds for r in runs))}% | "
                    f"{fmt(median(1000 * r.server_cpu / max(r.ok, 1) for r in runs), 2)} | "
                    f"{_storm_db_cpu(storm, runs)} | "
                    f"{fmt(median(100 * r.client_cpu / r.seconds for r in runs))}% | "
                    f"{fmt(max(r.server_rss_mb for r in runs), 1)} MiB |"
                )
    goals = [_storm_goals(storm) for storm in storms]
    out += [
        "",
        "| goal | " + " | ".join(storm.title for storm in storms) + " |",
        "|---|" + "---|" * len(storms),
    ]
    for i, (goal, _) in enumerate(goals[0]):
        out.append(f"| {goal} | " + " | ".join(cells[i][1] for cells in goals) + " |")
    out += [
        "",
        f"- The WSGI build's {first.labels['wsgi']} caps a {fmt(slow * 1000)} ms provider "
        f"at about threads / delay = {fmt(first.wsgi_threads / slow if slow else 0)} "
        "logins/s; its slow/instant ratio is not a goal.",
        "- Peak DB connections per process: pg_stat_activity sampled every "
        f"{1000 * PeakConnections.INTERVAL:g} ms by the bench during each storm; the "
        "server's connections (its application_name, Django's and the fast lane's) are "
        "counted per process by client port, the port's owner read from /proc/<pid>/fd "
        "and /proc/net/tcp, whenever their total reaches a new high (a connection closed "
        "before /proc was read counts for every process). A connection shorter than the "
        "interval may go unseen. A request that finds the pool empty waits in "
        "psycopg_pool's queue up to DB_POOL_TIMEOUT (10 s) and then fails with a "
        "database error (a 503).",
        "- DB CPU counts the PostgreSQL backends alive when a storm starts and ends: "
        "without a pool, those opened and closed within it are missed (n/a).",
    ]
    for storm in storms:
        for build in ("asgi", "wsgi"):
            if _storm_failures(storm, build):
                out.append(
                    f"- Why the {storm.title} {build.upper()} logins failed: the server's "
                    f"log, bench/results/{storm.prefix}-{build}.log."
                )
    out.append("")
    return out
