"""The application under a real ASGI server (uvicorn), in its own process, on its own
database, for tests that must see what production sees: real sockets, real headers,
the real event loop, and no test-client shortcuts. Anything that would raise
SynchronousOnlyOperation in production fails these tests first."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import psycopg

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class E2EDatabase:
    """A database of its own for the server processes: a file for SQLite, a fresh
    database next to the test database for PostgreSQL."""

    def __init__(self, name: str):
        base = os.environ.get("DATABASE_URL", "")
        self._pg_admin = None
        if base.startswith(("postgres://", "postgresql://")):
            server, _, _ = base.rpartition("/")
            self.url = f"{server}/{name}"
            self._pg_admin = f"{server}/postgres"
            with psycopg.connect(self._pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            self.name = name
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="authsite-e2e-")
            self.url = f"sqlite:///{self._dir.name}/{name}.sqlite3"
        self.run_manage("migrate", "--noinput")

    def run_manage(self, *args, env=None):
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **base_env(), "DATABASE_URL": self.url, **(env or {})},
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def run_python(self, module: str, *args) -> str:
        """Run ``python -m module args`` against this database; return its stdout."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env={**os.environ, **base_env(), "DATABASE_URL": self.url},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def drop(self):
        if self._pg_admin:
            with psycopg.connect(self._pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            self._dir.cleanup()


def stop_process(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it; kill it if it has not ended in 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def base_env() -> dict:
    return {
        "DEBUG": "false",
        "SECRET_KEY": "e2e-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "authsite.settings",
        "PYTHONUNBUFFERED": "1",
    }


class Server:
    """One uvicorn process serving authsite.asgi:application."""

    def __init__(self, database: E2EDatabase, env: dict, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Open for the server's whole life, read back by output(); removed by stop().
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="authsite-e2e-", suffix=".log", delete=False
        )
        self._output = None
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "authsite.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                "--no-proxy-headers",
            ],
            cwd=ROOT,
            env={**os.environ, **base_env(), "DATABASE_URL": database.url, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited while starting:\n{self.output()}")
            try:
                if httpx2.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not become ready:\n{self.output()}")

    def output(self) -> str:
        if self._output is not None:
            return self._output
        return Path(self.log.name).read_text(errors="replace")

    def stop(self):
        stop_process(self.process)
        self.log.close()
        self._output = Path(self.log.name).read_text(errors="replace")
        Path(self.log.name).unlink()

    def assert_clean_log(self):
        """No traceback, no sync-in-async error, ever."""
        output = self.output()
        for marker in ("SynchronousOnlyOperation", "Traceback", "Internal Server Error"):
            assert marker not in output, output
