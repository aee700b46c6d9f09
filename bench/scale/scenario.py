"""`python -m bench --only scale`: the same requests against the small and the large
data set, side by side in one run.

Each kept set (``dataset``) is copied to a database of the run's own, and served by
one uvicorn worker on core 0 (``FAST_LANE`` on, as in production); the two servers run
at once and each round measures one after the other, the order reversed every round,
so that the machine's other load falls on both alike. A round: Bearer ``/me`` under
wrk, refresh tokens rotated in chains (``load.rotate``), returning logins through the
local identity provider, and the admin's list of people as a super admin and as the
bench organisation's admin, first page and a search. Then each set's statements are
explained (``django_side inspect``), and ``prune_tokens`` runs while rotations go on
(their rate beside the rate just before, and the longest wait on a lock that pruning
held), then ``prune_audit``. The copies are dropped at the end.
"""

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import wrk
from ..idp_server import CLIENT_ID, CLIENT_SECRET
from ..prepare import ROOT, cache_url
from ..scenarios.base import (
    GENERATOR_CPU,
    SERVER_CPU,
    Bench,
    Settings,
    _latency,
    _measured_run,
    _meter,
    loadavg,
    median,
)
from ..scenarios.logins import _outcomes, _prepare_logins, start_idp
from ..servers import Processes, start_server
from . import dataset, load
from .django_side import ADMIN_PAGES, USERS_LIST

CHAINS = 64  # refresh chains at once, as the refresh scenario's concurrency
LOGINS = 100  # returning logins per round
LOGIN_CONCURRENCY = 8
ADMIN_REQUESTS = 5  # per page per round
AUDIT_DAYS = 320  # prune_audit --older-than: a fifth of the 400 days of events


@dataclass
class Measured:
    """One kind of request on one set, one entry per round."""

    rate: list[float] = field(default_factory=list)  # per second
    cpu_ms: list[float] = field(default_factory=list)  # server + PostgreSQL, per request
    db_cpu_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    failed: int = 0


@dataclass
class Pruned:
    output: str
    seconds: float
    rate_before: float = 0.0  # rotations per second just before
    rate_during: float = 0.0
    p99_before_ms: float = 0.0
    p99_during_ms: float = 0.0
    max_during_ms: float = 0.0
    longest_lock_wait_ms: float = 0.0
    lock_waits: int = 0
    failed: dict = field(default_factory=dict)


@dataclass
class SetResult:
    name: str
    record: dict
    me: Measured = field(default_factory=Measured)
    refresh: Measured = field(default_factory=Measured)
    login: Measured = field(default_factory=Measured)
    admin_ms: dict = field(default_factory=dict)  # page -> [seconds of every request]
    admin_queries: dict = field(default_factory=dict)  # page -> queries per page
    prune_tokens: Pruned | None = None
    prune_audit: Pruned | None = None


@dataclass
class ScaleResult:
    sets: dict  # name -> SetResult
    rounds: int
    seconds: float
    load: list[str] = field(default_factory=list)


@dataclass
class _Served:
    """A set under test: its copy, its server, and what it presents."""

    result: SetResult
    bench: Bench
    server: object
    prepared: dict
    chains: list[str]
    script: Path  # wrk's, with the set's access tokens


def _django(env: dict, *argv: str) -> None:
    subprocess.run([sys.executable, "-m", "bench.scale.django_side", *argv],
                   cwd=ROOT, env=env, check=True)  # fmt: skip


def _serve(spec, server_url: str, env: dict, processes, results: Path, idp: str, settings):
    name = f"{spec.database}_run"
    url = dataset.clone(spec, server_url, name)
    cache = cache_url(11, f"scale{spec.name}{time.time_ns()}")
    set_env = {**env, "DATABASE_URL": url, "CACHE_URL": cache}
    prepared_file = results / f"prepared-{spec.name}.json"
    _django(set_env, "prepare", "--issuer", idp, "--hot", str(spec.hot),
            "--out", str(prepared_file))  # fmt: skip
    prepared = json.loads(prepared_file.read_text())
    bench = Bench(settings, set_env, processes, {}, results, url,
                  f"{server_url}/postgres", name)  # fmt: skip
    server = start_server(processes, "asgi", set_env, cpus=SERVER_CPU, name=f"scale-{spec.name}")
    record = dataset.recorded(f"{server_url}/postgres", spec.database)
    chains = prepared["refresh_tokens"][:CHAINS]
    script = wrk.write_script(results / f"me-{spec.name}.lua", prepared["access_tokens"])
    return _Served(SetResult(spec.name, record), bench, server, prepared, chains, script)


def _me(served: _Served, seconds: float) -> None:
    run = _measured_run(served.bench, served.server, served.script, 32, seconds)
    me = served.result.me
    me.rate.append(run.rps)
    me.cpu_ms.append(1000 * (run.server_cpu + run.db_cpu) / max(run.requests, 1))
    me.db_cpu_ms.append(1000 * run.db_cpu / max(run.requests, 1))
    me.p99_ms.append(run.p99_ms)
    me.failed += run.errors


def _refresh(served: _Served, seconds: float) -> load.Chains:
    meter = _meter(served.bench, served.server)
    run = load.rotate_for(served.server.port, served.chains, seconds)
    used = meter.stop()
    served.chains = run.tokens
    refresh = served.result.refresh
    refresh.rate.append(run.rate)
    refresh.cpu_ms.append(1000 * (used["server"] + used["db"]) / max(run.ok, 1))
    refresh.db_cpu_ms.append(1000 * used["db"] / max(run.ok, 1))
    refresh.p99_ms.append(run.percentile(0.99))
    refresh.failed += sum(run.failed.values())
    return run


def _logins(served: _Served, idp: str, count: int) -> None:
    from .. import client

    server = served.server
    callbacks = asyncio.run(_prepare_logins(server, idp, range(count)))
    meter = _meter(served.bench, server)
    batch = asyncio.run(client.fire("127.0.0.1", server.port, callbacks, LOGIN_CONCURRENCY))
    used = meter.stop()
    ok, failures = _outcomes(batch)
    login = served.result.login
    login.rate.append(ok / batch.seconds if batch.seconds else 0.0)
    login.cpu_ms.append(1000 * (used["server"] + used["db"]) / max(ok, 1))
    login.db_cpu_ms.append(1000 * used["db"] / max(ok, 1))
    login.p99_ms.append(_latency(batch)[1])
    login.failed += sum(failures.values())


def _admin(served: _Served, count: int) -> None:
    cookies = served.prepared["admin_cookies"]
    for page, (email, query) in ADMIN_PAGES.items():
        seconds = asyncio.run(
            load.pages(served.server.port, USERS_LIST + query, cookies[email], count)
        )
        served.result.admin_ms.setdefault(page, []).extend(1000 * s for s in seconds)


def _rounds(served: list[_Served], idp: str, settings: Settings) -> None:
    for each in served:  # warm-up: imports, pools, caches, the signing key
        _me(each, settings.warmup)
        _refresh(each, 1)
        _logins(each, idp, 10)
        _admin(each, 1)
        each.result.me, each.result.refresh = Measured(), Measured()
        each.result.login, each.result.admin_ms = Measured(), {}
    for n in range(settings.runs):
        order = served if n % 2 == 0 else served[::-1]
        for each in order:
            _me(each, settings.duration)
        for each in order:
            _refresh(each, settings.duration)
        for each in order:
            _logins(each, idp, LOGINS)
        for each in order:
            _admin(each, ADMIN_REQUESTS)
        print(
            f"  scale round {n + 1}: "
            + " | ".join(
                f"{s.result.name} me {s.result.me.rate[-1]:.0f}/s refresh "
                f"{s.result.refresh.rate[-1]:.0f}/s login {s.result.login.rate[-1]:.0f}/s "
                f"admin {median(s.result.admin_ms[next(iter(ADMIN_PAGES))]):.0f} ms"
                for s in served
            ),
            flush=True,
        )


def _manage(served: _Served, *argv: str):
    """Start ``manage.py argv`` on the set's copy, its connection named "prune"."""
    url = f"{served.bench.database_url}?application_name=prune"
    env = {**served.bench.env, "DATABASE_URL": url}
    return subprocess.Popen(
        ["taskset", "-c", GENERATOR_CPU, sys.executable, "manage.py", *argv],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _prune_tokens(served: _Served, settings: Settings) -> Pruned:
    """Rotate for a while, then go on rotating while prune_tokens runs; return both rates
    and the longest lock wait pruning caused."""
    before = load.rotate_for(served.server.port, served.chains, 2 * settings.duration)
    bench = served.bench
    with load.LockWaits(bench.admin_url, bench.database, "prune") as waits:
        started = time.monotonic()
        process = _manage(served, "prune_tokens")
        during = load.rotate_for_process(served.server.port, before.tokens, process)
        seconds = time.monotonic() - started
    served.chains = during.tokens
    output = process.stdout.read().strip()
    if process.returncode != 0:
        raise RuntimeError(f"prune_tokens failed:\n{output}")
    return Pruned(
        output=output,
        seconds=seconds,
        rate_before=before.rate,
        rate_during=during.rate,
        p99_before_ms=before.percentile(0.99),
        p99_during_ms=during.percentile(0.99),
        max_during_ms=during.percentile(1.0),
        longest_lock_wait_ms=waits.longest_ms,
        lock_waits=len(waits.waits),
        failed={str(k): v for k, v in {**before.failed, **during.failed}.items()},
    )


def _prune_audit(served: _Served) -> Pruned:
    started = time.monotonic()
    process = _manage(served, "prune_audit", "--older-than", str(AUDIT_DAYS))
    output = process.communicate()[0].strip()
    if process.returncode != 0:
        raise RuntimeError(f"prune_audit failed:\n{output}")
    return Pruned(output=output, seconds=time.monotonic() - started)


def measure(server_url: str, env: dict, processes: Processes, results: Path,
            settings: Settings) -> ScaleResult:  # fmt: skip
    """Run the scenario (see the module) on the kept sets, made current first; return
    the result. The EXPLAIN of each set's statements goes to ``results``."""
    t0 = time.monotonic()
    for spec in dataset.SPECS.values():
        dataset.ensure(spec, server_url, env)
    bench = Bench(settings, env, processes, {}, results, "", f"{server_url}/postgres", "")
    idp = start_idp(bench, dataset.SMALL.hot, 0)
    env = {**env, "AUTH0_ISSUER": idp, "AUTH0_CLIENT_ID": CLIENT_ID,
           "AUTH0_CLIENT_SECRET": CLIENT_SECRET}  # fmt: skip
    served = [_serve(spec, server_url, env, processes, results, idp, settings)
              for spec in dataset.SPECS.values()]  # fmt: skip
    result = ScaleResult({s.result.name: s.result for s in served}, settings.runs, 0.0,
                         [loadavg()])  # fmt: skip
    try:
        _rounds(served, idp, settings)
        result.load.append(loadavg())
        for each in served:
            prepared = results / f"prepared-{each.result.name}.json"
            counts = results / f"queries-{each.result.name}.json"
            _django(each.bench.env, "inspect", "--tokens", str(prepared),
                    "--explain", str(results / f"explain-{each.result.name}.md"),
                    "--out", str(counts))  # fmt: skip
            each.result.admin_queries = json.loads(counts.read_text())
        for each in served:
            print(f"  prune_tokens on {each.result.name}, rotating meanwhile", flush=True)
            each.result.prune_tokens = _prune_tokens(each, settings)
            each.result.prune_audit = _prune_audit(each)
        result.load.append(loadavg())
    finally:
        for each in served:
            processes.stop(each.server.process)
            dataset.drop(server_url, each.bench.database)
    result.seconds = time.monotonic() - t0
    (results / "scale.json").write_text(json.dumps(asdict(result), indent=1, default=str))
    return result
