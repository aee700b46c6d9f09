"""The hot path (``GET /api/v1/auth/me`` with a Bearer token, under wrk at each
concurrency) and, on the same two workers, the memory goal; and the reference, a bare
Django view under the same wrk runs."""

import math
from dataclasses import dataclass, field

from .. import servers, wrk
from ..servers import cpu_seconds, rss_mb, start_server
from .base import GENERATOR_CPU, SERVER_CPU, Bench, _measured_run, loadavg, median


@dataclass
class Memory:
    boot_mb: float
    warm_mb: float
    end_mb: float = 0.0
    requests: int = 0  # requests served between warm_mb and end_mb

    @property
    def growth(self) -> float:
        """Return the growth from the warmed-up worker (imports and caches loaded) to
        the end, as a fraction of the former."""
        return (self.end_mb - self.warm_mb) / self.warm_mb if self.warm_mb else 0.0


@dataclass
class HotResult:
    labels: dict[str, str]
    runs: dict[str, dict[int, list[wrk.RunResult]]]
    ratios: dict[int, list[float]]  # per connection count, one ratio per side-by-side pair
    memory: dict[str, Memory]
    load: list[str] = field(default_factory=list)


def hot_path(bench: Bench) -> HotResult:
    """Run GET /api/v1/auth/me with a Bearer token at each concurrency, both builds
    side by side; then the memory goal on the same two workers. Return the result."""
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
    """Measure bench/reference, Django's own cost per server on this machine today, at
    32 connections (the goals' starting numbers were taken this way); return the runs."""
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
