"""Tools for breaking the test database's schema on purpose and proving it was repaired.

The repair tests change the schema of the shared test database. The ``schema`` fixture
puts it back as migrated after every test, pass or fail, so later tests see a clean one.
"""

import io
import re
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from accounts.ops.schema import PROJECT_APPS
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationDomain,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)

DDL = re.compile(r"^\s*(CREATE|ALTER|DROP)\b", re.IGNORECASE)


@dataclass
class Result:
    code: int
    out: str
    err: str


def repair_schema(*args) -> Result:
    """Run the command as an operator would; the exit code is what the shell would see."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("repair_schema", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    except CommandError as error:
        code = 1
        err.write(str(error))
    return Result(code, out.getvalue(), err.getvalue())


def break_schema(app_label, *operations):
    """Apply migration operations to the database only: django_migrations still says
    the schema is the migrated one."""
    state = MigrationExecutor(connection).loader.project_state()
    with connection.schema_editor() as editor:
        for operation in operations:
            new_state = state.clone()
            operation.state_forwards(app_label, new_state)
            operation.database_forwards(app_label, editor, state, new_state)
            state = new_state


def roll_back(app_label, migration_name, *, keep_records):
    """Unapply every migration after (app_label, migration_name) with Django's own
    backwards operations; with keep_records, django_migrations still lists them."""
    recorder = MigrationRecorder(connection)
    before = set(recorder.applied_migrations())
    MigrationExecutor(connection).migrate([(app_label, migration_name)])
    unapplied = before - set(recorder.applied_migrations())
    assert unapplied, "nothing was rolled back"
    if keep_records:
        for key in unapplied:
            recorder.record_applied(*key)
    return unapplied


def project_tables() -> list[str]:
    from django.apps import apps

    tables = set()
    for app_label in PROJECT_APPS:
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
            tables.add(model._meta.db_table)
    return sorted(tables & set(connection.introspection.table_names()))


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table of the project's apps, as the database holds it."""
    rows = {}
    with connection.cursor() as cursor:
        for table in project_tables():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            names = [column[0] for column in cursor.description]
            rows[table] = sorted(
                (dict(zip(names, row, strict=True)) for row in cursor.fetchall()),
                key=lambda row: row["id"],
            )
    return rows


def assert_rows_kept(before, after):
    """Every row of ``before`` is in ``after`` with the same values in the columns it had."""
    for table, rows in before.items():
        assert table in after, f"table {table} disappeared"
        kept = [{name: row[name] for name in rows[0]} for row in after[table]] if rows else []
        assert kept == rows, f"rows of {table} changed"


def assert_clean_and_idempotent():
    """--check is clean, and a second repair does nothing: no DDL, no migration recorded."""
    check = repair_schema("--check")
    assert check.code == 0, check.out + check.err
    assert "No drift" in check.out
    recorded = MigrationRecorder(connection).migration_qs.count()
    with CaptureQueriesContext(connection) as queries:
        again = repair_schema()
    assert again.code == 0, again.out + again.err
    assert "Nothing to repair" in again.out
    assert not [q["sql"] for q in queries.captured_queries if DDL.match(q["sql"])]
    assert MigrationRecorder(connection).migration_qs.count() == recorded


def populate(role=Role.ADMIN):
    acme = Organisation.objects.create(name="Acme", slug="acme", industry="retail")
    globex = Organisation.objects.create(name="Globex", slug="globex", industry="energy")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.test", verified=True)
    tool = Tool.objects.create(code="ops_probe", name="Ops probe", is_default=True)
    OrganisationToolAccess.objects.create(organisation=acme, tool=tool, tier="professional")
    ada = User.objects.create_user("ada@acme.test", organisation=acme, role=role, name="Ada")
    User.objects.create_user("bob@globex.test", organisation=globex, role=role, name="Bob")
    UserApplicationAccess.objects.create(user=ada, tool=tool)
    FeatureFlag.objects.create(key="beta", name="Beta", enabled=True, rollout_percentage=50)


def assert_repairs(*names):
    """--check names the fault (every string in ``names``) and exits 1; the repair fixes
    it; --check is then clean, a second repair does nothing, and no row changed."""
    before = snapshot()
    check = repair_schema("--check")
    assert check.code == 1, check.out
    for name in names:
        assert name in check.out, f"{name!r} not in:\n{check.out}"
    assert "repair refuses" not in check.out
    repaired = repair_schema()
    assert repaired.code == 0, repaired.out + repaired.err
    assert "now matches its migrations" in repaired.out
    assert_clean_and_idempotent()
    assert_rows_kept(before, snapshot())
    return check


def assert_refuses(*sentences):
    """--check and the repair both give the refusal sentences, the repair exits 1, and
    neither the schema nor a row changed."""
    before = snapshot()
    check = repair_schema("--check")
    assert check.code == 1
    refused = repair_schema()
    assert refused.code == 1
    assert "Nothing was changed" in refused.err
    for sentence in sentences:
        assert sentence in check.out, f"{sentence!r} not in:\n{check.out}"
        assert sentence in refused.err, f"{sentence!r} not in:\n{refused.err}"
    assert repair_schema("--check").out == check.out
    assert snapshot() == before


def restore_schema():
    """Repair whatever a test left broken; when the repair refuses because of rows a test
    put there, empty the tables first (the test is over; its rows may go)."""
    result = repair_schema()
    if result.code != 0:
        # SQLite refuses to empty a table whose foreign keys point at a dropped one unless
        # foreign keys are off.
        with connection.constraint_checks_disabled():
            call_command("flush", interactive=False, verbosity=0)
        result = repair_schema()
    assert result.code == 0, result.out + result.err
    assert repair_schema("--check").code == 0


@pytest.fixture
def schema(transactional_db):
    """For tests that break the schema: leaves it as migrated afterwards, pass or fail.
    Requesting transactional_db orders this teardown before the database flush."""
    yield
    restore_schema()
