"""One gunicorn worker against two (uvicorn workers, deploy/gunicorn.conf.py) on a copy
of the large set: Bearer ``/me`` under wrk and chains of refresh rotations, with the
load generators pinned to core 1.

Three servers, measured one after the other, the order reversed every round: 1 worker
on core 0, 2 workers on core 0 (the generator stays apart: what a second worker costs
with the same CPU), and 2 workers on both cores (the throughput a second core gives,
the generator sharing core 1). For each: requests per second, and per request the CPU
of the server's processes and of its PostgreSQL backends (from /proc), user and system
time apart, and the context switches of the workers.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import wrk
from ..prepare import cache_url
from ..scenarios.base import GENERATOR_CPU, Bench, median
from ..servers import CLOCK_TICKS, Server, backend_pids, free_port
from . import dataset, load
from .scenario import CHAINS, _django

VARIANTS = {
    "1 worker, core 0": (1, "0"),
    "2 workers, core 0": (2, "0"),
    "2 workers, cores 0-1": (2, "0,1"),
}
CONNECTIONS = 64


def _times(pids) -> tuple[float, float, int]:
    """Return (user s, system s, context switches) of the processes."""
    user = system = switches = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        user, system = user + int(fields[11]), system + int(fields[12])
        switches += sum(
            int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line
        )
    return user / CLOCK_TICKS, system / CLOCK_TICKS, switches


@dataclass
class Cost:
    rate: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # CPU per request
    system_share: list[float] = field(default_factory=list)  # of the server's CPU
    db_ms: list[float] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)  # per request, the workers'
    worker_share: list[list[float]] = field(default_factory=list)  # each worker's CPU share

    @property
    def total_ms(self) -> float:
        return median(s + d for s, d in zip(self.server_ms, self.db_ms, strict=True))


@dataclass
class WorkersResult:
    labels: list[str]
    me: dict = field(default_factory=dict)  # label -> Cost
    refresh: dict = field(default_factory=dict)
    rounds: int = 0


class _Meter:
    def __init__(self, server: Server, database: str):
        self.server, self.database = server, database

    def __enter__(self):
        self.workers = self.server.worker_pids()
        self.before = _times(self.server.all_pids()), [_times([p]) for p in self.workers]
        self.db_before = _times(backend_pids(self.database))
        return self

    def stop(self, requests: int, cost: Cost) -> None:
        (user0, sys0, _), each0 = self.before
        user, system, _ = _times(self.server.all_pids())
        each = [_times([p]) for p in self.workers]
        db = _times(backend_pids(self.database))
        used = (user - user0) + (system - sys0)
        n = max(requests, 1)
        cost.server_ms.append(1000 * used / n)
        cost.system_share.append((system - sys0) / used if used else 0.0)
        cost.db_ms.append(1000 * ((db[0] - self.db_before[0]) + (db[1] - self.db_before[1])) / n)
        cost.switches.append(sum(e[2] - b[2] for e, b in zip(each, each0, strict=True)) / n)
        per = [(e[0] + e[1]) - (b[0] + b[1]) for e, b in zip(each, each0, strict=True)]
        cost.worker_share.append([p / sum(per) if sum(per) else 0.0 for p in per])

    def __exit__(self, *exc):
        return False


def _start(processes, env: dict, label: str) -> Server:
    count, cpus = VARIANTS[label]
    port, name = free_port(), f"workers-{count}-{cpus.replace(',', '')}"
    argv = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
            "authsite.asgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(count)]  # fmt: skip
    server_env = {**env, "DATABASE_URL": f"{env['DATABASE_URL']}?application_name={name}"}
    process = processes.start(name, argv, server_env, cpus)
    server = Server("gunicorn", label, process, port, count, name)
    server.wait_ready()
    return server


def measure(server_url: str, env: dict, processes, results: Path, settings) -> WorkersResult:
    """Run the measurement (see the module) and return it."""
    name = f"{dataset.LARGE.database}_workers"
    url = dataset.clone(dataset.LARGE, server_url, name)
    env = {**env, "DATABASE_URL": url, "CACHE_URL": cache_url(11, name)}
    prepared_file = results / "prepared-workers.json"
    _django(env, "prepare", "--issuer", "http://127.0.0.1:1/", "--hot",
            str(dataset.LARGE.hot), "--out", str(prepared_file))  # fmt: skip
    prepared = json.loads(prepared_file.read_text())
    script = wrk.write_script(results / "workers-me.lua", prepared["access_tokens"])
    result = WorkersResult(list(VARIANTS), rounds=settings.runs)
    servers = {}
    try:
        for label in VARIANTS:
            servers[label] = _start(processes, env, label)
            result.me[label], result.refresh[label] = Cost(), Cost()
        tokens = prepared["refresh_tokens"]
        chains = {label: tokens[i * CHAINS : (i + 1) * CHAINS] for i, label in enumerate(VARIANTS)}
        bench = Bench(settings, env, processes, {}, results, url, "", name)
        for label, server in servers.items():  # warm-up
            wrk.run(server.url + "/api/v1/auth/me", script, connections=CONNECTIONS,
                    seconds=settings.warmup, cpus=GENERATOR_CPU)  # fmt: skip
            chains[label] = load.rotate_for(server.port, chains[label], 1).tokens
        for n in range(settings.runs):
            order = list(VARIANTS) if n % 2 == 0 else list(VARIANTS)[::-1]
            for label in order:
                server = servers[label]
                with _Meter(server, bench.database) as meter:
                    run = wrk.run(server.url + "/api/v1/auth/me", script, connections=CONNECTIONS,
                                  seconds=settings.duration, cpus=GENERATOR_CPU)  # fmt: skip
                    meter.stop(run.requests, result.me[label])
                result.me[label].rate.append(run.rps)
                with _Meter(server, bench.database) as meter:
                    chain = load.rotate_for(server.port, chains[label], settings.duration)
                    meter.stop(chain.ok, result.refresh[label])
                chains[label] = chain.tokens
                result.refresh[label].rate.append(chain.rate)
            rates = " | ".join(
                f"{label}: me {result.me[label].rate[-1]:.0f}/s refresh "
                f"{result.refresh[label].rate[-1]:.0f}/s"
                for label in VARIANTS
            )
            print(f"  workers round {n + 1}: {rates}", flush=True)
    finally:
        for server in servers.values():
            processes.stop(server.process)
        dataset.drop(server_url, name)
    return result


def section(result: WorkersResult) -> list[str]:
    """Return the workers' part of docs/benchmarks.md's scale section."""
    one = result.labels[0]
    out = [
        "### One worker against two",
        "",
        "gunicorn with uvicorn workers (deploy/gunicorn.conf.py) on a copy of the large "
        f"set, wrk at {CONNECTIONS} connections for `/me` and {CHAINS} chains of rotations, "
        "the generators on core 1; "
        f"{result.rounds} rounds, medians (bench/scale/workers.py). CPU per request from "
        "/proc: the server's processes and the PostgreSQL backends of the copy.",
        "",
        "| request | server | req/s | ms CPU/req server + PostgreSQL | vs 1 worker | "
        "server system share | context switches/req | each worker's share | goal |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, costs in (("`/me`", result.me), ("refresh", result.refresh)):
        for label, cost in costs.items():
            ratio = cost.total_ms / costs[one].total_ms if costs[one].total_ms else 0.0
            shares = [median(column) for column in zip(*cost.worker_share, strict=True)]
            goal = "" if label == one else (
                ("**pass**" if ratio <= 1.1 else "**FAIL**") + " (≤ 1.1×)")  # fmt: skip
            out.append(
                f"| {kind} | {label} | {median(cost.rate):,.0f} | "
                f"{median(cost.server_ms):.2f} + {median(cost.db_ms):.2f} = {cost.total_ms:.2f} "
                f"| {ratio:.2f}× | {100 * median(cost.system_share):.0f}% | "
                f"{median(cost.switches):.1f} | "
                f"{' / '.join(f'{100 * s:.0f}%' for s in shares)} | {goal} |"
            )
    out.append("")
    return out
