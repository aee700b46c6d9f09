"""The tables of the hot path, refresh and memory goals in docs/benchmarks.md: each
build's rows side by side, the ASGI build's judged against the goals."""

from ..scenarios.base import median
from ..scenarios.hot import HotResult
from ..scenarios.refresh import RefreshResult
from ..tables import fmt, verdict

GOAL_RATIO = 1.0
GOAL_P99_MS = 50.0
GOAL_ROTATIONS = 500
GOAL_RSS_MB = 150.0
GOAL_GROWTH = 0.10

# The goals are the ASGI build's; the WSGI build's rows are there to compare with.
COMPARISON = "comparison"
ASGI_JUDGED = "what production runs; the WSGI row is the comparison"


def hot_section(hot: HotResult | None) -> list[str]:
    """Return the hot path's section: each build's runs at each concurrency, the
    ASGI/WSGI ratio and the goal (a stub when it did not run)."""
    if hot is None:
        return ["## 1. Hot path", "", "_Not run._", ""]
    out = [
        "## 1. Hot path: `GET /api/v1/auth/me` with a Bearer app token",
        "",
        f"One server process on core 0 ({hot.labels['asgi']}; {hot.labels['wsgi']}), wrk "
        "with 1 thread on core 1, tokens of 1 of the seeded members per request in turn. "
        "Medians of the runs; the ratio is the median of ASGI/WSGI over side-by-side "
        "pairs. CPU is the server's (100% = its one core), the bench database's "
        "PostgreSQL backends' (not pinned) and wrk's; ms CPU/req is the server's CPU time "
        "per answered request, the number least disturbed by other work on the machine.",
        "",
        "| build | connections | runs | req/s | p50 ms | p99 ms | errors | server CPU | "
        "ms CPU/req | DB CPU | wrk CPU | worker RSS | ASGI/WSGI | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for connections in sorted(hot.ratios):
        ratio = median(hot.ratios[connections])
        for build in ("asgi", "wsgi"):
            runs = hot.runs[build][connections]
            if not runs:
                continue
            p99 = median(r.p99_ms for r in runs)
            goal = None
            if build == "asgi" and connections in (32, 64):
                goal = ratio >= GOAL_RATIO and (connections != 64 or p99 < GOAL_P99_MS)
            out.append(
                f"| {build.upper()} | {connections} | {len(runs)} | "
                f"{fmt(median(r.rps for r in runs))} | "
                f"{fmt(median(r.p50_ms for r in runs), 1)} | {fmt(p99, 1)} | "
                f"{sum(r.errors for r in runs)} | "
                f"{fmt(median(100 * r.server_cpu / r.seconds for r in runs))}% | "
                f"{fmt(median(1000 * r.server_cpu / max(r.requests, 1) for r in runs), 2)} | "
                f"{fmt(median(100 * r.db_cpu / r.seconds for r in runs))}% | "
                f"{fmt(median(100 * r.wrk_cpu / r.seconds for r in runs))}% | "
                f"{fmt(runs[-1].server_rss_mb, 1)} MiB | "
                f"{fmt(ratio, 2) + '×' if build == 'asgi' else ''} | "
                f"{verdict(goal) if goal is not None else ''} |"
            )
    out += [
        "",
        f"Goal: ASGI ≥ {GOAL_RATIO}× WSGI req/s (at 32 and 64 connections) and ASGI p99 < "
        f"{GOAL_P99_MS:g} ms at 64 connections. Load average (1/5/15 min) before and after: "
        f"{' → '.join(hot.load)}.",
        "",
        "![Throughput against concurrency](benchmarks-throughput.png)",
        "",
    ]
    return out


def memory_section(hot: HotResult | None, goal_requests: int) -> list[str]:
    """Return the memory section: each build's worker at boot, after the warm-up and
    after ``goal_requests`` requests, and the goal (a stub when it did not run)."""
    if hot is None:
        return ["## 4. Memory", "", "_Not run._", ""]
    out = [
        "## 4. Memory: resident set of each worker (VmRSS)",
        "",
        "At boot (after the first request), after the warm-up, and after the hot-path "
        "runs plus a top-up of the same requests; growth is from the warmed-up worker.",
        "",
        "| build | RSS at boot | after warm-up | after N requests | N | growth | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for build in ("asgi", "wsgi"):
        m = hot.memory[build]
        reached = m.requests >= goal_requests
        note = "" if reached else f" (only {fmt(m.requests)} of {fmt(goal_requests)} served)"
        if build == "asgi":
            ok = m.end_mb < GOAL_RSS_MB and m.growth < GOAL_GROWTH and reached
            goal = f"{verdict(ok)}{note}"
        else:
            goal = f"{COMPARISON}{note}"
        out.append(
            f"| {build.upper()} | {fmt(m.boot_mb, 1)} MiB | {fmt(m.warm_mb, 1)} MiB | "
            f"{fmt(m.end_mb, 1)} MiB | {fmt(m.requests)} | {100 * m.growth:+.1f}% | {goal} |"
        )
    out += [
        "",
        f"Goal: under {GOAL_RSS_MB:g} MB per worker and growing less than "
        f"{100 * GOAL_GROWTH:g}% over {fmt(goal_requests)} requests, for the ASGI build "
        f"({ASGI_JUDGED}). A time cap (`--memory-max-seconds`) bounds the top-up; when it "
        "stops short the row says so, and for the ASGI build the goal is not met.",
        "",
    ]
    return out


def _split(runs) -> str:
    """Median CPU of each worker, busiest first, e.g. "96% + 12%"."""
    shares = [sorted((100 * c / r.seconds for c in r.worker_cpu), reverse=True) for r in runs]
    width = min(len(s) for s in shares) if shares else 0
    return " + ".join(f"{fmt(median(s[i] for s in shares))}%" for i in range(width))


def refresh_section(refresh: RefreshResult | None, goal_rotations: int) -> list[str]:
    """Return the refresh section: rotations per second against ``goal_rotations``
    and the double spends of the runs and the bursts (a stub when it did not run)."""
    if refresh is None:
        return ["## 3. Refresh", "", "_Not run._", ""]
    out = [
        "## 3. Refresh: rotations per second on PostgreSQL, server on 2 cores",
        "",
        f"Two worker processes per build, not pinned ({refresh.labels['asgi']}; "
        f"{refresh.labels['wsgi']}); the asyncio client keeps 64 requests in flight and "
        "presents every pre-minted refresh token (each the first of its own family) "
        "exactly once. The client shares the 2 cores with the server; its CPU is shown. "
        "A kept-alive connection stays with the worker that accepted it, so the split of "
        "CPU between the two workers shows whether both were used.",
        "",
        "| build | runs | tokens/run | rotations/s | p50 ms | p99 ms | not 200 | "
        "server CPU (of 200%) | per worker | ms CPU/rotation | DB CPU | client CPU | "
        "worker RSS | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for build in ("asgi", "wsgi"):
        runs = refresh.runs[build]
        if not runs:
            continue
        rate = median(r.rate for r in runs)
        bad = sum(r.presented - r.ok for r in runs)
        out.append(
            f"| {build.upper()} | {len(runs)} | {runs[0].presented} | {fmt(rate)} | "
            f"{fmt(median(r.p50_ms for r in runs), 1)} | "
            f"{fmt(median(r.p99_ms for r in runs), 1)} | {bad} | "
            f"{fmt(median(100 * r.server_cpu / r.seconds for r in runs))}% | "
            f"{_split(runs)} | "
            f"{fmt(median(1000 * r.server_cpu / max(r.ok, 1) for r in runs), 2)} | "
            f"{fmt(median(100 * r.db_cpu / r.seconds for r in runs))}% | "
            f"{fmt(median(100 * r.client_cpu / r.seconds for r in runs))}% | "
            f"{fmt(max(r.server_rss_mb for r in runs), 1)} MiB | "
            f"{verdict(rate >= goal_rotations and bad == 0) if build == 'asgi' else COMPARISON} |"
        )
    out += [
        "",
        "Double spends, checked in the database after each build's runs and after a burst "
        "of concurrent presentations of one token (every presentation within "
        "REFRESH_REUSE_GRACE is answered with a sibling pair by design; the presented "
        "token must have exactly one child):",
        "",
        "| build | presented tokens with exactly one child | burst | burst answers | "
        "children of the burst token | family tokens after | family revoked | "
        "double spends |",
        "|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for build in ("asgi", "wsgi"):
        runs = refresh.runs[build]
        burst = refresh.bursts.get(build)
        if burst is None:
            continue
        single = sum(r.children for r in runs)
        ok = sum(r.ok for r in runs)
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(burst.statuses.items(), key=str))
        out.append(
            f"| {build.upper()} | {fmt(single)} of {fmt(ok)} rotated | {burst.presented} | "
            f"{answers} | {burst.children} | {burst.family_tokens} | "
            f"{'yes' if burst.family_revoked else 'no'} | "
            f"{burst.double_spends + (ok - single)} |"
        )
    out += [
        "",
        f"Goal: at least {goal_rotations} rotations/s with zero double spends, for the "
        f"ASGI build ({ASGI_JUDGED}); zero double spends for both.",
        "",
    ]
    return out
