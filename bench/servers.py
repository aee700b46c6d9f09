"""The processes the benchmark starts, and what /proc says about them.

Every process is started in a session of its own, so that stopping it (SIGTERM to its
process group, SIGKILL after a grace period) also stops the workers it forked and
nothing else. ``Processes`` remembers them all so that one ``stop_all`` in a
``finally`` cleans up after a failure or Ctrl-C.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .prepare import ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` under ``taskset -c cpus`` (children inherit the affinity)."""
    return ["taskset", "-c", cpus, *argv] if cpus else list(argv)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait()


@dataclass
class Processes:
    """Every process started, stopped in reverse order by ``stop_all``."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict, cpus: str | None = None) -> Process:
        log = self.log_dir / f"{name}.log"
        with log.open("w") as out:
            popen = subprocess.Popen(
                pinned(argv, cpus),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self.started:
            self.started.remove(process)

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


# --- the two builds ---------------------------------------------------------------------


ASGI_APP = "authsite.asgi:application"
WSGI_APP = "authsite.wsgi:application"


def asgi_argv(port: int, workers: int = 1, app: str = ASGI_APP) -> list[str]:
    argv = [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning", "--no-proxy-headers",
        # what uvicorn picks by itself with requirements.txt installed, said explicitly
        "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip
    return argv


def wsgi_argv(port: int, workers: int = 1, threads: int = 1, app: str = WSGI_APP) -> list[str]:
    worker_class = "gthread" if threads > 1 else "sync"
    return [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", worker_class, "--threads", str(threads),
        "--log-level", "warning", "--timeout", "120", "--forwarded-allow-ips", "",
    ]  # fmt: skip


@dataclass
class Server:
    """One build of the project listening on ``url``."""

    build: str  # "asgi" or "wsgi"
    label: str  # how the report names it, e.g. "uvicorn, 1 worker"
    process: Process
    port: int
    workers: int
    name: str  # also the application_name of its database connections

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"{self.label} exited while starting:\n{self.process.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200 and len(self.worker_pids()) >= self.workers:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.label} did not become ready:\n{self.process.output()}")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn with one worker serves in its own
        process; gunicorn and multi-worker uvicorn serve in the master's children."""
        if self.build == "asgi" and self.workers == 1:
            return [self.process.pid]
        # uvicorn's spawned workers share the master with multiprocessing's resource
        # tracker, which serves nothing.
        return [pid for pid in children(self.process.pid) if not _is_resource_tracker(pid)]

    def all_pids(self) -> list[int]:
        return [self.process.pid, *children(self.process.pid)]

    def worker_rss_mb(self) -> float:
        """The largest resident set among the serving processes, in MiB."""
        return max((rss_mb(pid) for pid in self.worker_pids()), default=0.0)


def start_server(
    processes: Processes,
    build: str,
    env: dict,
    *,
    workers: int = 1,
    threads: int = 1,
    cpus: str | None = None,
    name: str | None = None,
    app: str | None = None,
) -> Server:
    """Start a build and wait until it answers /healthz. ``app`` replaces the project's
    ASGI or WSGI application (the reference project)."""
    port = free_port()
    if build == "asgi":
        argv = asgi_argv(port, workers, app or ASGI_APP)
        label = f"uvicorn, {workers} worker{'s' if workers > 1 else ''}"
    else:
        argv = wsgi_argv(port, workers, threads, app or WSGI_APP)
        kind = f"gthread {threads} threads" if threads > 1 else "sync"
        label = f"gunicorn {kind}, {workers} worker{'s' if workers > 1 else ''}"
    name = name or f"{build}-{port}"
    if "DATABASE_URL" in env:
        # The connection's application_name tells pg_stat_activity which server it serves.
        separator = "&" if "?" in env["DATABASE_URL"] else "?"
        env = {**env, "DATABASE_URL": f"{env['DATABASE_URL']}{separator}application_name={name}"}
    process = processes.start(name, argv, env, cpus)
    server = Server(build, label, process, port, workers, name)
    server.wait_ready()
    return server


def start_reference(
    processes: Processes, env: dict, build: str, middleware: str, cpus: str | None
) -> Server:
    """Start bench/reference, the bare Django project (no database), as ``build`` with
    Django's default middleware or none (``middleware``: "default" or "none")."""
    env = {
        **{k: v for k, v in env.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "bench.reference.app",
        "REFERENCE_MIDDLEWARE": middleware,
    }
    name, app = f"reference-{build}-{middleware}", f"bench.reference.{build}:application"
    return start_server(processes, build, env, cpus=cpus, name=name, app=app)


# --- /proc ------------------------------------------------------------------------------


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def cpu_seconds(pids) -> float:
    """User + system CPU time of the processes (all their threads), in seconds; a
    process that has gone counts as zero."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tcp_port_owners(pids) -> dict[int, int]:
    """Local TCP port -> pid for the sockets the processes hold: /proc/<pid>/fd names
    each socket's inode, /proc/net/tcp and tcp6 give that inode's local port."""
    inodes = {}
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    owners = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                owners[int(fields[1].rsplit(":", 1)[1], 16)] = inodes[fields[9]]
    return owners


def backend_pids(database: str) -> list[int]:
    """The PostgreSQL backends connected to ``database`` on this machine (their command
    line reads ``postgres: <user> <database> <client> <state>``)."""
    marker = f" {database} ".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"postgres: ") and marker in cmdline:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds used by groups of processes between ``start`` and ``stop``."""

    def __init__(self, **groups):
        self.groups = groups  # name -> callable returning pids
        self.before = {}
        self.wall = 0.0

    def start(self) -> "CpuMeter":
        self.before = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        self._t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        self.wall = time.perf_counter() - self._t0
        return {name: cpu_seconds(pids()) - self.before[name] for name, pids in self.groups.items()}
