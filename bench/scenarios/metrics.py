"""What counting costs (`python -m bench --only metrics`): the same build served twice
on core 0, once with metrics off (METRICS_TOKEN unset) and once on (METRICS_TOKEN set,
and PROMETHEUS_MULTIPROC_DIR as deploy/gunicorn.conf.py sets it, so every count is
written to its worker's file as in production), measured one after the other, the
order reversed every round. Two requests: Bearer ``/me``, which the lane answers, and
Bearer ``/features``, which Django answers. The goal: with metrics on, at least 0.95×
the requests per second with metrics off, by the medians of the rounds.
"""

from dataclasses import dataclass, field

from .. import wrk
from ..servers import start_server
from .base import ME, SERVER_CPU, Bench, _measured_run, finish, median

REQUESTS = {"me (lane)": ME, "features (Django)": "/api/v1/features"}
CONNECTIONS = 32
GOAL_RATIO = 0.95
METRICS_TOKEN = "benchmark-metrics-token-0123456789"


@dataclass
class MetricsCost:
    connections: int
    seconds: int
    rps: dict = field(default_factory=dict)  # "on"/"off" -> request -> [req/s per round]
    cpu_ms: dict = field(default_factory=dict)  # the same, server CPU ms per request

    def ratio(self, request: str) -> float:
        off = median(self.rps["off"][request])
        return median(self.rps["on"][request]) / off if off else 0.0

    def summary(self) -> list[str]:
        return [
            f"metrics on/off, c={self.connections}: {request} "
            f"{median(self.rps['on'][request]):.0f}/{median(self.rps['off'][request]):.0f} "
            f"req/s = {self.ratio(request):.3f}× (goal ≥ {GOAL_RATIO}), server CPU "
            f"{median(self.cpu_ms['on'][request]):.3f}/"
            f"{median(self.cpu_ms['off'][request]):.3f} ms per request"
            for request in REQUESTS
        ]


def measure(bench: Bench) -> MetricsCost:
    """Run the scenario (see the module); write its lines to bench/results/metrics.txt
    and return the result."""
    metrics_dir = bench.results / "metrics-multiprocess"
    metrics_dir.mkdir(exist_ok=True)
    for leftover in metrics_dir.glob("*.db"):
        leftover.unlink()
    variants = {
        "off": {**bench.env, "FAST_LANE": "true"},
        "on": {
            **bench.env,
            "FAST_LANE": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        },
    }
    servers = {
        name: start_server(bench.processes, "asgi", env, cpus=SERVER_CPU, name=f"metrics-{name}")
        for name, env in variants.items()
    }
    script = wrk.write_script(bench.results / "metrics.lua", bench.seed["access_tokens"])
    seconds = max(1, int(bench.settings.duration))
    result = MetricsCost(CONNECTIONS, seconds)
    for table in (result.rps, result.cpu_ms):
        table.update({name: {request: [] for request in REQUESTS} for name in servers})
    plan = [(name, request) for request in REQUESTS for name in servers]
    for name, request in plan:  # warm-up: imports, pools, compiled queries
        _measured_run(bench, servers[name], script, CONNECTIONS, 1, REQUESTS[request])
    lines = []
    for n in range(bench.settings.runs):
        for name, request in plan if n % 2 == 0 else plan[::-1]:
            path = REQUESTS[request]
            run = _measured_run(bench, servers[name], script, CONNECTIONS, seconds, path)
            if run.errors:
                raise RuntimeError(f"{request} with metrics {name}: {run.errors} errors")
            result.rps[name][request].append(run.rps)
            result.cpu_ms[name][request].append(1000 * run.server_cpu / max(1, run.requests))
        lines.append(
            f"  metrics round {n + 1}: "
            + " | ".join(
                f"{request} on {result.rps['on'][request][-1]:.0f} "
                f"off {result.rps['off'][request][-1]:.0f}"
                for request in REQUESTS
            )
        )
        print(lines[-1], flush=True)
    finish(bench, servers, lines, result.summary(), "metrics.txt")
    return result
