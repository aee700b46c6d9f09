"""What the benchmark needs before it can start: wrk, the bench requirements, a
PostgreSQL server with a fresh database, and a cache URL.

PostgreSQL is found as the tests find it (tests/postgres.py): DATABASE_URL when it names
PostgreSQL, else 127.0.0.1:5432, else a throwaway cluster started from the local
binaries (stopped by the caller through the returned function).
"""

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-bench.txt"


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages when it is missing (the
    machine is root; otherwise through sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("Installing wrk from Debian's packages", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed.")
    return found


def ensure_requirements() -> None:
    """pip install requirements-bench.txt into the running interpreter's environment;
    a no-op (one quick pip call) when everything is already there."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "-r", str(REQUIREMENTS),
        ],
        check=True,
    )  # fmt: skip


@dataclass
class Database:
    """A fresh database on a PostgreSQL server. ``url`` is the database's own URL,
    ``admin_url`` the server's maintenance database (for pg_stat_activity and DROP)."""

    name: str
    url: str
    admin_url: str
    stop_server: object = None  # callable for a throwaway cluster, else None

    def drop(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"Could not drop {self.name}: {exc}", file=sys.stderr)
        if self.stop_server is not None:
            self.stop_server()
            self.stop_server = None


def postgres(name: str) -> Database:
    """A fresh, empty database ``name`` on the server tests/postgres.py would use."""
    import psycopg

    from tests.postgres import NoPostgres, find_server

    try:
        url, stop = find_server()
    except NoPostgres as exc:
        sys.exit(f"No PostgreSQL for the benchmark: {exc}.")
    server = url.rsplit("/", 1)[0]
    database = Database(name, f"{server}/{name}", f"{server}/postgres", stop)
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    """True when a Redis server answers PING (raw protocol: no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def cache_url(redis_db: int, key_prefix: str) -> str:
    """Redis when it answers (shared by every process, as in production), else local
    memory. The key prefix is unique per run so that a previous run's entries (the
    signing-key snapshot of a dropped database, above all) are never read."""
    if redis_answers():
        return f"redis://127.0.0.1:6379/{redis_db}?key_prefix={key_prefix}"
    return "locmemcache://bench"


def migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def server_version(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, connect_timeout=5) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def max_connections(admin_url: str) -> int:
    import psycopg

    with psycopg.connect(admin_url, connect_timeout=5) as conn:
        return int(conn.execute("SHOW max_connections").fetchone()[0])
