"""Run a command with DATABASE_URL pointing at a PostgreSQL server.

Order: a PostgreSQL DATABASE_URL already in the environment; else the server on
127.0.0.1:5432; else a throwaway cluster started from the local PostgreSQL binaries
and removed afterwards. When none can be had, exit 1 with one sentence: the
PostgreSQL pass must fail, never skip.

    python -m tests.postgres -- <command> [args...]
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import psycopg

# One database name per run (pytest-django adds its "test_" prefix), so that runs on one
# shared server do not collide.
RUN_DATABASE = f"authsite_{os.getpid()}"
LOCAL_URL = f"postgres://postgres@127.0.0.1:5432/{RUN_DATABASE}"


def reachable(url: str) -> bool:
    try:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binaries() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return os.path.dirname(candidates[0])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; drop to the `postgres` account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def throwaway_cluster():
    bindir = find_binaries()
    if bindir is None:
        return None, None
    root = tempfile.mkdtemp(prefix="authsite-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run(
        as_postgres_user(
            [f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        as_postgres_user(
            [
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-w",
                "-l",
                os.path.join(root, "log"),
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c max_connections=200",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )

    def stop():
        subprocess.run(
            as_postgres_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)

    return f"postgres://postgres@127.0.0.1:{port}/{RUN_DATABASE}", stop


class NoPostgres(Exception):
    """No PostgreSQL server can be had; the message says why."""


def find_server():
    """(URL, stop) of a PostgreSQL server for this run: DATABASE_URL when it names
    PostgreSQL, else 127.0.0.1:5432, else a throwaway cluster (``stop`` removes it;
    None otherwise). Raises NoPostgres with the reason."""
    url = os.environ.get("DATABASE_URL", "")
    stop = None
    if not url.startswith(("postgres://", "postgresql://")):
        url = LOCAL_URL
        if not reachable(url):
            url, stop = throwaway_cluster()
    if url is not None and reachable(url):
        return url, stop
    if stop:
        stop()
    if stop is None and url is not None:
        raise NoPostgres(f"DATABASE_URL names a PostgreSQL server that does not answer ({url})")
    raise NoPostgres("no server on 127.0.0.1:5432 and no local PostgreSQL binaries to start one")


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    try:
        url, stop = find_server()
    except NoPostgres as exc:
        print(f"PostgreSQL tests cannot run: {exc}.", file=sys.stderr)
        return 1
    print(f"PostgreSQL pass against {url}", flush=True)
    try:
        env = {**os.environ, "DATABASE_URL": url, "REQUIRE_POSTGRES": "1"}
        result = subprocess.run(argv, env=env, check=False)
        return result.returncode
    finally:
        if stop:
            stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
