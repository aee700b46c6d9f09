"""The sections of docs/benchmarks.md that put the goals' numbers in context: a bare
Django view on this machine today, and where the ASGI build's time goes (py-spy)."""

from ..scenarios.base import median
from ..scenarios.hot import ReferenceResult
from ..tables import fmt

ISSUE_REFERENCE = {
    "gunicorn sync, default middleware": 1900,
    "uvicorn, default middleware": 250,
    "uvicorn, no middleware": 720,
}


def reference_section(reference: ReferenceResult | None) -> list[str]:
    """Return the reference's section beside the quoted starting numbers (none when it
    did not run)."""
    if reference is None:
        return []
    out = [
        "## Reference: a bare Django view on this machine today",
        "",
        "bench/reference/: a one-module Django project with one sync view returning a "
        "small JSON object and no database, at 32 connections, one process on core 0. "
        "The goals quote these as the starting point; the last column says how this "
        "machine compares today (other work on it lowers every number alike).",
        "",
        "| server | runs | req/s | p50 ms | p99 ms | ms CPU/req | quoted | today/quoted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in reference.runs.items():
        rps = median(r.rps for r in runs)
        quoted = ISSUE_REFERENCE.get(label)
        out.append(
            f"| {label} | {len(runs)} | {fmt(rps)} | {fmt(median(r.p50_ms for r in runs), 1)} | "
            f"{fmt(median(r.p99_ms for r in runs), 1)} | "
            f"{fmt(median(1000 * r.server_cpu / max(r.requests, 1) for r in runs), 2)} | "
            f"{fmt(quoted) if quoted else ''} | {f'{rps / quoted:.2f}' if quoted else ''} |"
        )
    out.append("")
    return out


def profile_section(profiles: list) -> list[str]:
    """Return each profile's shares by kind of work and its heaviest functions (none
    when no profile ran)."""
    if not profiles:
        return []
    out = [
        "## Where the ASGI build's time goes (py-spy)",
        "",
        "py-spy samples the uvicorn worker from outside at 100 Hz, keeping the stack of "
        "whichever thread holds the GIL. Full reports: bench/results/profile-*.txt "
        "(folded stacks beside them, for speedscope).",
        "",
    ]
    for profile in profiles:
        out += [f"### {profile.name}", "", f"{profile.samples} samples.", ""]
        out += ["| share | kind of work |", "|---:|---|"]
        out += [f"| {100 * s:.1f}% | {k} |" for k, s in profile.kinds[:8]]
        out += ["", "| share (self) | function |", "|---:|---|"]
        out += [f"| {100 * s:.1f}% | `{f}` |" for f, s in profile.top_self[:10]]
        out.append("")
    return out
