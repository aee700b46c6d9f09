"""Refresh: rotations per second with each build's server on both cores, and a burst
of concurrent presentations of one token, checked in the database for a double spend."""

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass

from .. import client
from ..servers import Server, cpu_seconds, start_server
from .base import BOTH_CPUS, Bench, _latency, _meter


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
    """Return the POST /api/v1/auth/refresh request that presents ``token``."""
    return client.Request(
        "POST",
        "/api/v1/auth/refresh",
        (("Content-Type", "application/json"),),
        json.dumps({"refresh_token": token}).encode(),
    )


def _hashes(tokens: list[str]) -> list[str]:
    """Return the tokens' hashes as accounts.tokens.base.hash_token makes them, without
    importing Django here."""
    return [hashlib.sha256(t.encode()).hexdigest() for t in tokens]


def _children(database_url: str, tokens: list[str]) -> int:
    """Return how many presented tokens are spent and have exactly one child; the
    unique parent column makes more than one impossible to store, which a 500 would
    show instead."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(
            """SELECT count(*) FROM accounts_refreshtoken parent
               WHERE parent.token_hash = ANY(%s) AND parent.used_at IS NOT NULL
               AND (SELECT count(*) FROM accounts_refreshtoken child
                    WHERE child.parent_id = parent.id) = 1""",
            (_hashes(tokens),),
        ).fetchone()[0]


def _refresh_run(bench: Bench, server: Server, tokens: list[str], requests=None) -> RefreshRun:
    """Present each of ``tokens`` once, ``refresh_concurrency`` in flight, and return
    the run; ``requests`` present them otherwise (with a DPoP proof, say)."""
    workers = server.worker_pids()
    per_worker = [cpu_seconds([pid]) for pid in workers]
    meter = _meter(bench, server)
    own = time.process_time()
    batch = asyncio.run(
        client.fire(
            "127.0.0.1",
            server.port,
            requests or [refresh_request(t) for t in tokens],
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
    """Present ``token`` ``burst`` times at once and return what the database holds
    of its family afterwards."""
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
    """Measure rotations per second with the server on both cores (2 worker processes
    each), every token presented exactly once; then present one token ``burst`` times
    at once, checked in the database for a double spend. Return the result."""
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
