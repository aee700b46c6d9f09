"""The scale bench's load, beside wrk: refresh tokens rotated in chains, as clients do,
admin pages one at a time, and who waits on a lock that pruning holds."""

import asyncio
import json
import time
from dataclasses import dataclass, field

from .. import client
from ..scenarios.base import ActivitySampler
from ..scenarios.refresh import refresh_request


@dataclass
class Chains:
    """Rotations of ``tokens``: each connection presents its token, and then the
    successor the answer hands back, one at a time."""

    tokens: list[str]
    ok: int = 0
    failed: dict = field(default_factory=dict)  # status -> count
    latencies: list[float] = field(default_factory=list)  # seconds, answered rotations
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """Return the latency at ``share`` (0.5, 0.99, 1.0) of the answered rotations, ms."""
        times = sorted(self.latencies)
        return 1000 * times[min(len(times) - 1, int(len(times) * share))] if times else 0.0


async def rotate(port: int, tokens: list[str], until) -> Chains:
    """Rotate a chain per token over a connection each until ``until()`` is true;
    return the run, whose ``tokens`` are the chains' newest (a failed chain drops out)."""
    run = Chains(tokens=list(tokens))

    async def chain(index: int) -> None:
        connection = client.Connection("127.0.0.1", port)
        try:
            while not until():
                try:
                    response = await connection.send(refresh_request(run.tokens[index]))
                except (OSError, asyncio.IncompleteReadError):
                    connection.close()
                    run.failed[None] = run.failed.get(None, 0) + 1
                    return
                if response.status != 200:
                    run.failed[response.status] = run.failed.get(response.status, 0) + 1
                    return
                run.tokens[index] = json.loads(response.body)["refresh_token"]
                run.ok += 1
                run.latencies.append(response.seconds)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(chain(i) for i in range(len(tokens))))
    run.seconds = time.perf_counter() - started
    run.tokens = [t for t in run.tokens if t]
    return run


def rotate_for(port: int, tokens: list[str], seconds: float) -> Chains:
    deadline = time.monotonic() + seconds
    return asyncio.run(rotate(port, tokens, lambda: time.monotonic() >= deadline))


async def pages(port: int, path: str, cookie: str, count: int) -> list[float]:
    """Request ``path`` ``count`` times, one after the other, with the session ``cookie``;
    return each answer's seconds (raise on anything but a 200)."""
    connection = client.Connection("127.0.0.1", port)
    request = client.Request("GET", path, (("Cookie", f"sessionid={cookie}"),))
    seconds = []
    try:
        for _ in range(count):
            response = await connection.send(request)
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            seconds.append(response.seconds)
    finally:
        connection.close()
    return seconds


class LockWaits(ActivitySampler):
    """Samples pg_stat_activity every ``INTERVAL`` in a thread: ``waits`` holds, for each
    statement of ``database`` seen waiting on a lock that a backend named ``blocker``
    (application_name) holds, how long it had been running when last seen waiting (an
    upper bound of its wait, within one interval)."""

    INTERVAL = 0.01

    def __init__(self, admin_url: str, database: str, blocker: str):
        super().__init__(admin_url)
        self.database, self.blocker = database, blocker
        self.waits: dict[tuple, float] = {}
        self.samples = 0

    def sample(self, conn) -> None:
        for pid, started, seconds in conn.execute(
            """SELECT a.pid, a.query_start,
                      extract(epoch FROM clock_timestamp() - a.query_start)
               FROM pg_stat_activity a
               WHERE a.datname = %s AND a.wait_event_type = 'Lock'
                 AND EXISTS (SELECT 1 FROM pg_stat_activity b
                             WHERE b.pid = ANY(pg_blocking_pids(a.pid))
                               AND b.application_name = %s)""",
            (self.database, self.blocker),
        ):
            self.waits[(pid, started)] = float(seconds)
        self.samples += 1

    @property
    def longest_ms(self) -> float:
        return 1000 * max(self.waits.values(), default=0.0)


def rotate_for_process(port: int, tokens: list[str], process) -> Chains:
    """Rotate until ``process`` (a subprocess.Popen) has exited."""
    return asyncio.run(rotate(port, tokens, lambda: process.poll() is not None))
