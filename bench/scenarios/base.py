"""What every scenario shares: the command-line settings, the run's state (``Bench``),
the cores each process is pinned to, and a wrk run measured for CPU and memory."""

import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import client, servers, wrk
from ..servers import Processes, Server, cpu_seconds

SERVER_CPU = "0"
GENERATOR_CPU = "1"
BOTH_CPUS = "0,1"
ME = "/api/v1/auth/me"


@dataclass
class Settings:
    """How long and how often: the command-line flags."""

    duration: float = 5.0
    runs: int = 5
    sweep_runs: int = 3
    warmup: float = 2.0
    goal_connections: tuple[int, ...] = (32, 64)
    sweep_connections: tuple[int, ...] = (1, 4, 16)
    memory_requests: int = 100_000
    memory_max_seconds: float = 180.0
    logins: int = 200
    storm_delay: float = 0.3
    wsgi_threads: int = 8
    refresh_batch: int = 1500
    refresh_concurrency: int = 64
    burst: int = 64
    profile_seconds: float = 10.0

    @property
    def connections(self) -> tuple[int, ...]:
        return tuple(sorted({*self.sweep_connections, *self.goal_connections}))

    def runs_at(self, connections: int) -> int:
        return self.runs if connections in self.goal_connections else self.sweep_runs


@dataclass
class Bench:
    """What every scenario needs: the servers' environment, the seeded tokens, where to
    write, and the process registry that cleans up."""

    settings: Settings
    env: dict
    processes: Processes
    seed: dict
    results: Path
    database_url: str
    admin_url: str
    database: str
    idp_url: str = ""
    refresh_used: int = 0

    def take_refresh_tokens(self, count: int) -> list[str]:
        """Return the next ``count`` seeded refresh tokens, never handed out before;
        raise RuntimeError when too few were seeded."""
        tokens = self.seed["refresh_tokens"][self.refresh_used : self.refresh_used + count]
        if len(tokens) < count:
            raise RuntimeError("not enough refresh tokens were seeded; raise --refresh-tokens")
        self.refresh_used += count
        return tokens


class ActivitySampler:
    """In a ``with`` block, a thread that calls ``sample(conn)`` every ``INTERVAL``
    seconds on its own autocommit connection to ``admin_url`` (pg_stat_activity)."""

    INTERVAL = 0.02

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self._stop = threading.Event()

    def sample(self, conn) -> None:
        raise NotImplementedError

    def __enter__(self):
        import psycopg

        self._conn = psycopg.connect(self.admin_url, autocommit=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.sample(self._conn)
            self._stop.wait(self.INTERVAL)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._conn.close()


def loadavg() -> str:
    """Return the 1, 5 and 15 minute load averages: other work on the machine shows
    here."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median(values) -> float:
    """Return the median of ``values``, 0.0 when there are none."""
    values = list(values)
    return statistics.median(values) if values else 0.0


def finish(bench: Bench, started: dict, lines: list[str], summary: list[str], name: str) -> None:
    """Stop the ``started`` servers, print the ``summary`` lines, and write ``lines``
    and them to bench/results/``name``."""
    for server in started.values():
        bench.processes.stop(server.process)
    lines += summary
    for line in summary:
        print(line, flush=True)
    (bench.results / name).write_text("\n".join(lines) + "\n")


def _meter(bench: Bench, server: Server) -> servers.CpuMeter:
    """Start counting the CPU time of ``server`` and of the bench database's backends."""
    return servers.CpuMeter(
        server=server.all_pids, db=lambda: servers.backend_pids(bench.database)
    ).start()


def _measured_run(bench, server: Server, script: Path, connections: int, seconds: float, path=ME):
    """Run wrk against ``server`` and return its result with the server's and the
    database's CPU time and the worker's memory; wait until the server is idle."""
    meter = _meter(bench, server)
    result = wrk.run(
        server.url + path,
        script,
        connections=connections,
        seconds=seconds,
        cpus=GENERATOR_CPU,
    )
    used = meter.stop()
    result.server_cpu, result.db_cpu = used["server"], used["db"]
    result.server_rss_mb = server.worker_rss_mb()
    _wait_until_idle(server)
    return result


def _wait_until_idle(server: Server, most: float = 10.0) -> None:
    """Wait until the server has answered what it still had queued when wrk stopped (a
    gunicorn sync worker has up to 63 requests in its backlog at 64 connections), so
    that the next run does not share core 0 with it: the ASGI runs that followed a WSGI
    run showed twice the p99 of those that followed an ASGI run."""
    deadline = time.monotonic() + most
    before = cpu_seconds(server.all_pids())
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_seconds(server.all_pids())
        if now - before < 0.01:  # under 5% of a core
            return
        before = now


def _latency(batch: client.Batch) -> tuple[float, float]:
    """Return the p50 and p99 of a batch's answered requests, in ms."""
    times = sorted(r.seconds * 1000 for r in batch.responses if r)
    if not times:
        return 0.0, 0.0
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
