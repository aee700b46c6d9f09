"""docs/benchmarks.md's sections of the endpoints scenario (bench/endpoints.py)."""

from ..endpoints import (
    ENDPOINTS,
    GOAL_ENDPOINTS,
    GOAL_P99_MS,
    GOAL_RATIO,
    LANE_ANSWERS,
    LOGIN_CONCURRENCY,
    LOGIN_GOALS_MS,
    P99_CONNECTIONS,
    PATHS,
    REFERENCE,
    TUNED_SETTINGS,
    EndpointsResult,
)
from ..scenarios.base import median
from ..tables import fmt, verdict


def endpoints_section(results: list[EndpointsResult]) -> list[str]:
    """Return docs/benchmarks.md's sections of the scenario, one per measurement (none
    when it did not run)."""
    return [line for result in results for line in _section(result)]


def _section(result: EndpointsResult) -> list[str]:
    c32, c64 = result.connections
    labels = result.labels
    environment = (
        "the documented defaults (the bench's environment without "
        f"{' and '.join(TUNED_SETTINGS)}: the pool's default size and the local-memory "
        "cache, so access is read from the database on every request)"
        if result.defaults
        else "the bench's environment"
    )
    out = [
        "## Both paths: every JSON endpoint and the login callback"
        + (", documented defaults" if result.defaults else ""),
        "",
        f"Four servers on core 0, side by side, measured one at a time: the project "
        f"({labels['lane']}) with FAST_LANE=true, whose lane answers Bearer `/me` and "
        "passes everything else to Django in the same process, and with FAST_LANE=false, "
        f"Django's path for everything; the WSGI application ({labels['wsgi']}), where "
        "Django runs each async view through async_to_sync; all three with "
        f"{environment} (with the lane on, the pool is shared half and half between "
        "Django and the lane); and "
        f"bench/reference's bare `/json` view ({labels['reference']}, default middleware, "
        "no database). wrk with 1 thread on core 1, a Bearer app token of 1 of the seeded "
        "members per request in turn; `POST /token` issues a new pair in the token's "
        f"family each time. {len(result.runs['reference']['json'][c32])} rounds of "
        f"{result.seconds} s runs at {c32} and at {c64} connections, each round measuring "
        "the reference and every endpoint on the three servers, in reverse order every other "
        "round; medians. Django/reference: the median over rounds of Django's path's "
        "req/s over the reference's in the same round.",
        "",
        f"| endpoint | on the lane's server, answered by | lane req/s ({c32} / {c64}) | "
        f"Django path req/s ({c32} / {c64}) | Django/reference ({c32} / {c64}) | WSGI req/s "
        f"({c32} / {c64}) | p99 ms at {c64}: lane / Django path | ms CPU/req at {c32}: lane "
        "/ Django path | errors | goal |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, (method, path) in ENDPOINTS.items():
        goal = result.goal_met(name)
        out.append(
            f"| `{method} {path}` | {'the lane' if name in LANE_ANSWERS else 'Django'} | "
            f"{fmt(result.rps('lane', name, c32))} / {fmt(result.rps('lane', name, c64))} | "
            f"{fmt(result.rps('django', name, c32))} / {fmt(result.rps('django', name, c64))} | "
            f"{result.ratio(name, c32):.2f}× / {result.ratio(name, c64):.2f}× | "
            f"{fmt(result.rps('wsgi', name, c32))} / {fmt(result.rps('wsgi', name, c64))} | "
            f"{fmt(result.p99('lane', name, c64), 1)} / "
            f"{fmt(result.p99('django', name, c64), 1)} | "
            f"{fmt(result.cpu_ms('lane', name, c32), 2)} / "
            f"{fmt(result.cpu_ms('django', name, c32), 2)} | "
            f"{sum(result.errors(p, name) for p in PATHS)} | "
            f"{verdict(goal) if goal is not None else 'no goal'} |"
        )
    ref = (REFERENCE, "json")
    out += [
        f"| reference: `GET /json` | | | {fmt(result.rps(*ref, c32))} / "
        f"{fmt(result.rps(*ref, c64))} | 1.00× | | – / {fmt(result.p99(*ref, c64), 1)} | "
        f"– / {fmt(result.cpu_ms(*ref, c32), 2)} | {result.errors(*ref)} | |",
        "",
        "The login callback on Django's path (FAST_LANE=false): each login prepared first "
        "(GET /auth/login, the provider's /authorize), then the callbacks sent "
        f"{LOGIN_CONCURRENCY} at a time with an instant provider (the login storm sends "
        "them all at once); the CPU over the callbacks alone, per answered login. "
        "Returning: people who logged in before; first: people never seen, each getting a "
        "new user and a new personal organisation.",
        "",
        "| login | runs | logins per run | failed | logins/s | ms server CPU per login | "
        "ms DB CPU per login | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, runs in result.logins.items():
        out.append(
            f"| {kind} | {len(runs)} | {runs[0].logins} | {sum(r.logins - r.ok for r in runs)} | "
            f"{fmt(median(r.ok / r.seconds for r in runs))} | "
            f"{fmt(result.ms_per_login(kind), 2)} | "
            f"{fmt(median(r.db_ms_per_login for r in runs), 2)} | "
            f"{verdict(result.login_goal_met(kind))} (≤ {LOGIN_GOALS_MS[kind]:g} ms) |"
        )
    out += [
        "",
        f"Goals: on Django's path, {', '.join(f'`{n}`' for n in GOAL_ENDPOINTS)} each "
        f"serve at least {GOAL_RATIO}× the reference's req/s at {c32} and at {c64} "
        f"connections, with p99 under {GOAL_P99_MS:g} ms at {P99_CONNECTIONS} and no "
        "errors; `csrf` and `sessions` have none. Server CPU per returning login at most "
        f"{LOGIN_GOALS_MS['returning']:g} ms, per first login at most "
        f"{LOGIN_GOALS_MS['first']:g} ms. Load average (1/5/15 min) before and after: "
        f"{' → '.join(result.load)}.",
        "",
    ]
    return out
