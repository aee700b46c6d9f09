"""Where the ASGI build's CPU goes, sampled by py-spy from outside the server.

py-spy attaches to the running uvicorn worker (no change to the app, no profiler in the
request path) and records, 100 times a second, the stack of whichever thread holds the
GIL (``--gil``): on a server pinned to one saturated core that is where its CPU goes.
The folded stacks are kept (``*.folded``: speedscope or flamegraph.pl read them) and
summarised in ``*.txt``: a breakdown by kind of work, the heaviest leaf functions, and
the heaviest frames of the project and of Django's request path, inclusive.
"""

import asyncio
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import client, wrk
from .endpoints import LOGIN_CONCURRENCY
from .scenarios.base import GENERATOR_CPU, ME, SERVER_CPU, Bench
from .scenarios.logins import _outcomes, _prepare_logins, _set_token_delay
from .scenarios.refresh import refresh_request
from .servers import start_server

PY_SPY = Path(sys.executable).with_name("py-spy")

# Leaf-first: a sample belongs to the first kind (walking from the running function
# towards the thread's root) whose pattern one of its frames matches.
KINDS = [
    ("JWT and crypto (joserfc, cryptography)", ("joserfc/", "cryptography/")),
    ("PostgreSQL driver and pool (psycopg)", ("psycopg/", "psycopg_pool/")),
    ("cache client (redis, django-redis)", ("redis/", "django_redis/")),
    (
        "thread hops (asgiref sync_to_async, executors, thread start/join)",
        ("asgiref/", "concurrent/futures/", "threading.py", "asyncio/futures.py", "queue.py"),
    ),
    ("ORM: building, compiling, model instances (django/db)", ("django/db/",)),
    (
        "Django request handling and middleware",
        (
            "django/core/handlers/", "django/middleware/", "django/utils/deprecation.py",
            "django/contrib/", "corsheaders/", "django/http/", "django/urls/",
            "django/dispatch/", "django/conf/",
        ),
    ),
    ("the project's code (accounts, organisations, authsite)", ("accounts/", "organisations/",
                                                                "authsite/")),
    ("HTTP server (uvicorn, h11, httptools)", ("uvicorn/", "h11/", "httptools/")),
    ("asyncio event loop", ("asyncio/", "selectors.py", "uvloop/")),
    ("other Django", ("django/",)),
]  # fmt: skip
OURS_AND_REQUEST_PATH = (
    "accounts/", "organisations/", "authsite/", "django/core/handlers/",
    "django/utils/deprecation.py", "corsheaders/", "django/db/models/query.py",
    "asgiref/sync.py", "django/contrib/",
)  # fmt: skip


@dataclass
class Profile:
    name: str
    samples: int
    requests: int
    text: Path
    folded: Path
    kinds: list[tuple[str, float]]  # (kind, share of samples)
    top_self: list[tuple[str, float]]
    top_inclusive: list[tuple[str, float]]


def _file_of(frame: str) -> str:
    return frame[frame.rfind("(") + 1 :].rstrip(")")


def summarise(name: str, folded: Path, requests: int, out: Path, note: str) -> Profile:
    samples = 0
    leaf, inclusive, kinds = Counter(), Counter(), Counter()
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        samples += n
        leaf[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        kinds[_kind(frames)] += n
    share = (lambda n: n / samples) if samples else (lambda n: 0.0)
    profile = Profile(
        name=name,
        samples=samples,
        requests=requests,
        text=out,
        folded=folded,
        kinds=[(k, share(n)) for k, n in kinds.most_common()],
        top_self=[(f, share(n)) for f, n in leaf.most_common(25)],
        top_inclusive=[
            (f, share(n))
            for f, n in inclusive.most_common()
            if any(p in _file_of(f) for p in OURS_AND_REQUEST_PATH)
        ][:45],
    )
    lines = [
        f"# {name}",
        note,
        f"{samples} samples on the GIL at 100 Hz; {requests} requests served meanwhile.",
        "",
        "## By kind of work (leaf-first: the innermost frame of a known kind decides)",
        *(f"{100 * s:5.1f}%  {k}" for k, s in profile.kinds),
        "",
        "## Heaviest functions, self time (the running frame)",
        *(f"{100 * s:5.1f}%  {f}" for f, s in profile.top_self),
        "",
        "## Heaviest frames of the project and Django's request path, inclusive",
        *(f"{100 * s:5.1f}%  {f}" for f, s in profile.top_inclusive),
        "",
    ]
    out.write_text("\n".join(lines))
    return profile


def _kind(frames: list[str]) -> str:
    for frame in reversed(frames):
        path = _file_of(frame)
        for kind, patterns in KINDS:
            if any(p in path for p in patterns):
                return kind
    return "other (interpreter, stdlib)"


def _record(pid: int, seconds: float, folded: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(PY_SPY), "record", "--pid", str(pid), "--duration", f"{seconds:g}",
            "--rate", "100", "--gil", "--nonblocking", "--format", "raw",
            "--output", str(folded),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def profile_hot_path(
    bench: Bench, lane: bool = True, method: str = "GET", path: str = ME
) -> Profile:
    """py-spy on the ASGI worker while wrk (32 connections) drives ``method`` ``path``
    with the seeded Bearer tokens (GET /me by default): answered by the lane, or with
    ``lane`` False by Django's own path (FAST_LANE=false)."""
    seconds = bench.settings.profile_seconds
    answering = "asgi" if lane else "django"
    name = path.rstrip("/").rsplit("/", 1)[-1]
    env = {**bench.env, "FAST_LANE": "true" if lane else "false"}
    server = start_server(
        bench.processes, "asgi", env, cpus=SERVER_CPU, name=f"prof-{name}-{answering}"
    )
    script = wrk.write_script(
        bench.results / f"profile-{method.lower()}.lua", bench.seed["access_tokens"], method
    )
    url = server.url + path
    wrk.run(url, script, connections=32, seconds=bench.settings.warmup, cpus=GENERATOR_CPU)
    folded = bench.results / f"profile-{name}-{answering}.folded"
    spy = _record(server.process.pid, seconds, folded)
    time.sleep(0.5)  # py-spy attaches before the load starts
    run = wrk.run(url, script, connections=32, seconds=seconds, cpus=GENERATOR_CPU)
    spy.wait()
    bench.processes.stop(server.process)
    by = "the lane" if lane else "Django's own path, FAST_LANE=false"
    return summarise(
        f"ASGI hot path: {method} {path} (Bearer, {by}), uvicorn 1 worker on core 0",
        folded,
        run.requests,
        bench.results / f"profile-{name}-{answering}.txt",
        f"wrk 1 thread, 32 connections, {seconds:g} s: {run.rps:.0f} req/s while sampled.",
    )


def profile_refresh(bench: Bench, tokens: int) -> Profile:
    """py-spy on one ASGI worker while the asyncio client rotates refresh tokens (64
    concurrent), until the profile ends or the tokens run out."""
    seconds = bench.settings.profile_seconds
    server = start_server(bench.processes, "asgi", bench.env, cpus=SERVER_CPU, name="prof-refresh")
    warm = bench.take_refresh_tokens(100)
    asyncio.run(client.fire("127.0.0.1", server.port, [refresh_request(t) for t in warm], 16))
    folded = bench.results / "profile-refresh-asgi.folded"
    pool = bench.take_refresh_tokens(tokens)
    spy = _record(server.process.pid, seconds, folded)
    time.sleep(0.5)
    served, started = 0, time.perf_counter()
    while spy.poll() is None and pool:
        chunk, pool = pool[:200], pool[200:]
        batch = asyncio.run(
            client.fire(
                "127.0.0.1",
                server.port,
                [refresh_request(t) for t in chunk],
                bench.settings.refresh_concurrency,
            )
        )
        served += batch.statuses().get(200, 0)
    elapsed = time.perf_counter() - started
    spy.wait()
    bench.processes.stop(server.process)
    return summarise(
        "ASGI refresh path: POST /api/v1/auth/refresh, uvicorn 1 worker on core 0",
        folded,
        served,
        bench.results / "profile-refresh-asgi.txt",
        f"asyncio client, 64 concurrent: {served / elapsed:.0f} rotations/s while sampled.",
    )


def profile_logins(bench: Bench, returning: range, first: range) -> list[Profile]:
    """py-spy on one ASGI worker (Django's path) while it finishes logins, ``LOGIN_CONCURRENCY``
    callbacks at a time: ``returning`` (the provider's people, by number, logged in once before
    the profile), then ``first`` (people it has never seen)."""
    env = {**bench.env, "FAST_LANE": "false"}
    server = start_server(bench.processes, "asgi", env, cpus=SERVER_CPU, name="prof-logins")
    _set_token_delay(bench.idp_url, 0.0)
    profiles = []
    for kind, people, warm in (("returning", returning, True), ("first", first, False)):
        if warm:
            _log_in(server, bench.idp_url, people)
        callbacks = asyncio.run(_prepare_logins(server, bench.idp_url, people))
        folded = bench.results / f"profile-login-{kind}.folded"
        spy = _record(server.process.pid, bench.settings.profile_seconds, folded)
        time.sleep(0.5)
        batch = asyncio.run(client.fire("127.0.0.1", server.port, callbacks, LOGIN_CONCURRENCY))
        spy.wait()
        ok, failures = _outcomes(batch)
        profiles.append(
            summarise(
                f"Login callback, {kind} people: GET /auth/callback on Django's path, "
                "uvicorn 1 worker on core 0",
                folded,
                ok,
                bench.results / f"profile-login-{kind}.txt",
                f"asyncio client, {LOGIN_CONCURRENCY} concurrent: {ok} logins in "
                f"{batch.seconds:.2f} s" + (f", failed: {failures}" if failures else "") + ".",
            )
        )
    bench.processes.stop(server.process)
    return profiles


def _log_in(server, idp_url: str, people: range) -> None:
    """Log ``people`` in once, so that the profile's logins are returning ones."""
    callbacks = asyncio.run(_prepare_logins(server, idp_url, people))
    asyncio.run(client.fire("127.0.0.1", server.port, callbacks, LOGIN_CONCURRENCY))
