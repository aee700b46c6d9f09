"""The scale bench's two data sets, kept between runs, and the copy each run works on.

    python -m bench.scale.dataset [--only large|small] [--rebuild]

Each set lives in a database of its own (``authsite_scale_large``, ``authsite_scale_small``)
whose comment records the version of ``bench.scale.rows`` it was made with and when. A
set is rebuilt only when it is missing, its recorded version differs from ``VERSION``,
its live tokens would expire within ``REBUILD_BEFORE_EXPIRY`` of the run, or its
migrations are not the project's; a set whose database lacks only newer migrations is
migrated in place. A build goes to a database of its own, renamed over the kept one once
complete, so that an interrupted build leaves nothing that looks finished.

A build migrates the empty database as ``manage.py migrate`` does, drops the loaded
tables' secondary indexes and their foreign-key and unique constraints (their
definitions read from the catalogue), inserts the rows (``rows.STEPS``), then creates
them again exactly as they were: every constraint is checked against every row when it
comes back. ``VACUUM ANALYZE`` leaves the tables as autovacuum would.

A run never changes a kept set: it works on a copy (``CREATE DATABASE … TEMPLATE``,
``clone``), dropped afterwards.
"""

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from ..prepare import ROOT
from . import rows

VERSION = 1
REBUILD_BEFORE_EXPIRY = timedelta(days=3)
# Live tokens were made at most 3 days before the build and live 30 days.
LIVE_FOR = timedelta(days=rows.REFRESH_TTL_DAYS - 3)


@dataclass(frozen=True)
class Spec:
    """How many rows of each kind a set holds."""

    name: str
    organisations: int
    users: int
    families: int
    audit: int
    hot: int = 1000  # the bench's people (bench.idp_server), alike in both sets
    flags: int = 50

    @property
    def tokens(self) -> int:
        return self.families // 8 * sum(rows.CHAIN)

    @property
    def database(self) -> str:
        return f"authsite_scale_{self.name}"


LARGE = Spec("large", organisations=10_000, users=200_000, families=500_000, audit=5_000_000)
SMALL = Spec("small", organisations=100, users=2_000, families=5_000, audit=50_000)
SPECS = {spec.name: spec for spec in (SMALL, LARGE)}


def _record(spec: Spec, built_at: datetime, seconds: float) -> str:
    return json.dumps(
        {"version": VERSION, "built_at": built_at.isoformat(), "seconds": round(seconds, 1),
         **asdict(spec)}
    )  # fmt: skip


def recorded(admin_url: str, database: str) -> dict | None:
    """Return what the set's database comment records, or None when it has none."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (database,),
        ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def _project_migrations(env: dict) -> set[tuple[str, str]]:
    """Return the (app, name) of every migration the project has on disk."""
    out = subprocess.run(
        [sys.executable, "manage.py", "showmigrations", "--list"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found, app = set(), None
    for line in out.splitlines():
        if not line.startswith(" "):
            app = line.strip()
        elif line.strip().startswith("["):
            found.add((app, line.strip()[4:].strip()))
    return found


def _applied(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return set(conn.execute("SELECT app, name FROM django_migrations").fetchall())


def stale_reason(spec: Spec, server: str, env: dict) -> str | None:
    """Return why the kept set must be built again, or None when it is current."""
    record = recorded(f"{server}/postgres", spec.database)
    if record is None:
        return "missing"
    if record.get("version") != VERSION or record.get("families") != spec.families:
        return f"version {record.get('version')}, not {VERSION}"
    built_at = datetime.fromisoformat(record["built_at"])
    if built_at + LIVE_FOR - REBUILD_BEFORE_EXPIRY < datetime.now(UTC):
        return f"built {built_at:%Y-%m-%d}: its live tokens expire soon"
    if _applied(f"{server}/{spec.database}") - _project_migrations(env):
        return "it has migrations the project does not"
    return None


def _migrate(url: str, env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env={**env, "DATABASE_URL": url}, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _detach(conn, table: str) -> list[str]:
    """Drop ``table``'s foreign keys, unique constraints and secondary indexes (not its
    primary key nor its checks); return the statements that create them again."""
    constraints = conn.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype IN ('f', 'u')""",
        (table,),
    ).fetchall()
    owned = {name for name, _ in constraints} | {
        name
        for (name,) in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            (table,),
        )
    }
    indexes = [
        (name, definition)
        for name, definition in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
        if name not in owned
    ]
    for name, _ in constraints:
        conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [
        *(definition for _, definition in indexes),
        *(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            for name, definition in constraints
        ),
    ]


def _load(url: str, spec: Spec, now: datetime, log) -> None:
    params = {**asdict(spec), "now": now}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")
        conn.execute(rows.FUNCTIONS, {})
        tables = [table for table, _ in rows.STEPS]
        restore = []
        with conn.transaction():
            for table in tables:
                restore += _detach(conn, table)
        for table, statement in rows.STEPS:
            started = time.monotonic()
            count = conn.execute(statement, params).rowcount
            log(f"    {table}: {count:,} rows in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        # Indexes and unique constraints first: a foreign key may need one.
        for statement in sorted(restore, key=lambda s: "FOREIGN KEY" in s):
            conn.execute(statement)
        log(f"    indexes and constraints: {len(restore)} in {time.monotonic() - started:.1f} s")
        for table in tables:
            (sequence,) = conn.execute(
                "SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table}"',)
            ).fetchone()
            if sequence:  # the next row inserted takes the next id
                conn.execute(f'SELECT setval(%s, (SELECT max(id) FROM "{table}"))', (sequence,))
        started = time.monotonic()
        conn.execute("VACUUM (ANALYZE)")
        log(f"    VACUUM ANALYZE in {time.monotonic() - started:.1f} s")


def build(spec: Spec, server: str, env: dict, log=print) -> float:
    """Build ``spec``'s set afresh and keep it under its name; return the seconds the
    build took."""
    started, now = time.monotonic(), datetime.now(UTC)
    building = f"{spec.database}_building"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{building}"')
    _migrate(f"{server}/{building}", env)
    _load(f"{server}/{building}", spec, now, log)
    seconds = time.monotonic() - started
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{spec.database}" WITH (FORCE)')
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{spec.database}"')
        conn.execute(
            f'COMMENT ON DATABASE "{spec.database}" IS {_literal(_record(spec, now, seconds))}'
        )
    return seconds


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure(spec: Spec, server: str, env: dict, *, rebuild: bool = False, log=print) -> dict:
    """Make the kept set current (built or migrated as needed, see the module); return
    its record."""
    reason = "asked to" if rebuild else stale_reason(spec, server, env)
    if reason:
        log(f"  building the {spec.name} data set ({reason})")
        seconds = build(spec, server, env, log)
        log(f"  built the {spec.name} data set in {seconds:.0f} s")
    else:
        _migrate(f"{server}/{spec.database}", env)
    return recorded(f"{server}/postgres", spec.database)


def clone(spec: Spec, server: str, name: str) -> str:
    """Copy the kept set to a fresh database ``name`` (dropped first if it exists);
    return its URL."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{spec.database}" STRATEGY FILE_COPY')
    return f"{server}/{name}"


def drop(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def running_server() -> str:
    """Return the URL (without a database) of the running PostgreSQL server the data
    sets are kept on; exit with a sentence when none answers."""
    from tests.postgres import NoPostgres, find_server

    try:
        url, stop = find_server()
    except NoPostgres as exc:
        sys.exit(f"No PostgreSQL for the scale data sets: {exc}.")
    if stop is not None:
        stop()
        sys.exit("The scale data sets are kept on a running PostgreSQL server; none answers.")
    return url.rsplit("/", 1)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale.dataset", description=__doc__)
    parser.add_argument("--only", choices=sorted(SPECS))
    parser.add_argument("--rebuild", action="store_true", help="build even when current")
    args = parser.parse_args(argv)
    server = running_server()
    from ..run import server_env

    env = server_env(f"{server}/postgres", "locmemcache://scale", "0")
    for name in [args.only] if args.only else list(SPECS):
        record = ensure(SPECS[name], server, env, rebuild=args.rebuild)
        print(f"{name}: {json.dumps(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
