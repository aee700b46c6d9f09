"""Time `manage.py setup_tool_access` backfilling 10,000 organisations of 5 members each
on PostgreSQL, and check that it granted exactly the rows it should.

    .venv/bin/python -m bench.setup_tool_access [--organisations N] [--members M] [--runs R]

The server is found as the tests find it (tests/postgres.py): DATABASE_URL when it names
PostgreSQL, else 127.0.0.1:5432, else a throwaway cluster from the local binaries. A
fresh `authsite_bench` database is created on it and migrated (the migrations seed three
default tools). Each run empties the tenant tables, bulk-inserts the organisations and
their members, times the backfill, checks the row counts, then times a second backfill
that must find nothing missing. Prints a markdown table; exits 1 when a count is wrong.
"""

import argparse
import io
import os
import statistics
import sys
import time

import psycopg

from tests.postgres import NoPostgres, find_server

DATABASE = "authsite_bench"


def server_url():
    """(URL of a PostgreSQL server's maintenance database, stop function or None)."""
    try:
        url, stop = find_server()
    except NoPostgres as exc:
        sys.exit(f"No PostgreSQL server: {exc}.")
    return url.rsplit("/", 1)[0], stop


def recreate_database(server):
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def drop_database(server):
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def populate(organisations, members):
    """Empty the tenant tables and bulk-insert fresh organisations and members."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from organisations.models import Organisation

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE organisations_organisation, accounts_user, "
            "organisations_organisationtoolaccess, user_application_access CASCADE"
        )
    created = Organisation.objects.bulk_create(
        (Organisation(name=f"Org {n}", slug=f"org-{n}") for n in range(organisations)),
        batch_size=2000,
    )
    user = get_user_model()
    user.objects.bulk_create(
        (
            # "!" is an unusable password: these people log in through Auth0.
            user(email=f"person{m}@org-{n}.test", organisation_id=org.pk, password="!")
            for n, org in enumerate(created)
            for m in range(members)
        ),
        batch_size=5000,
    )


def backfill():
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("setup_tool_access", stdout=io.StringIO(), stderr=io.StringIO())
    return time.perf_counter() - started


def counts():
    from organisations.models import OrganisationToolAccess, Tool, UserApplicationAccess

    return (
        Tool.objects.filter(is_active=True, is_default=True).count(),
        OrganisationToolAccess.objects.count(),
        UserApplicationAccess.objects.count(),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args(argv)

    server, stop = server_url()
    try:
        recreate_database(server)
        os.environ.update(
            DATABASE_URL=f"{server}/{DATABASE}",
            DJANGO_SETTINGS_MODULE="authsite.settings",
            LOG_LEVEL="WARNING",
        )
        os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-not-for-production")
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]

        first, second, wrong = [], [], []
        for run in range(1, options.runs + 1):
            populate(options.organisations, options.members)
            first.append(backfill())
            tools, tool_access, application_access = counts()
            expected = (
                options.organisations * tools,
                options.organisations * options.members * tools,
            )
            if (tool_access, application_access) != expected:
                wrong.append(f"run {run}: {tool_access:,} / {application_access:,}")
            second.append(backfill())
            if counts()[1:] != expected:
                wrong.append(f"run {run}, second backfill changed the counts")
            print(f"run {run}: {first[-1]:.2f} s, second run {second[-1]:.2f} s", file=sys.stderr)
        connections.close_all()
    finally:
        drop_database(server)
        if stop:
            stop()

    print(
        f"| setup_tool_access on PostgreSQL {version}, {os.cpu_count()} CPUs | |\n"
        "|---|---|\n"
        f"| organisations × members | {options.organisations:,} × {options.members} |\n"
        f"| default tools | {tools} |\n"
        f"| rows granted | {expected[0]:,} tool access, {expected[1]:,} application access |\n"
        f"| backfill, median of {len(first)} fresh runs | {statistics.median(first):.2f} s |\n"
        f"| backfill, fastest / slowest | {min(first):.2f} s / {max(first):.2f} s |\n"
        f"| second run, nothing missing (median) | {statistics.median(second):.2f} s |\n"
        f"| row counts checked | {'all correct' if not wrong else '; '.join(wrong)} |"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
