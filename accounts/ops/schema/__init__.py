"""Compare the database with its migrations and repair the difference
(`manage.py repair_schema`; how it uses Django: docs/architecture.md, "Schema repair").

``inspect(using)`` only reads and returns the ``Drift``. ``repair(using)`` creates what the
tables of ``PROJECT_APPS`` lack and applies pending migrations; it never drops a table, a
column or a row, and raises ``RepairRefused`` before changing anything when data is in the way.
"""

from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState

from .drift import PROJECT_APPS, Catalog, Drift, RepairRefused, SchemaRepairError
from .history import History
from .tables import compare

__all__ = ["PROJECT_APPS", "Drift", "RepairRefused", "SchemaRepairError", "inspect", "repair"]


def inspect(using: str = DEFAULT_DB_ALIAS) -> Drift:
    """Compare the database ``using`` with its migrations and return the drift."""
    connection = connections[using]
    if connection.vendor not in ("sqlite", "postgresql"):
        raise SchemaRepairError(
            f"repair_schema supports SQLite and PostgreSQL; database '{using}' is "
            f"{connection.vendor}."
        )
    executor = MigrationExecutor(connection)
    if conflicts := executor.loader.detect_conflicts():
        raise SchemaRepairError(
            f"The migrations of {', '.join(sorted(conflicts))} have more than one leaf; merge "
            "them with `manage.py makemigrations --merge` first."
        )
    history = History(executor, Catalog(connection))
    pending, present = history.pending()
    applied = executor.loader.applied_migrations
    nodes = [key for key in history.plan if key in applied or key in present]
    expected = executor.loader.project_state(nodes=nodes)
    findings = compare(history.catalog, expected, history.origin(nodes))
    return Drift(connection.vendor, expected, pending + findings, present)


def repair(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Make the database ``using`` match its migrations and return a line per repair done.
    Raise ``RepairRefused`` (nothing more changed) or ``SchemaRepairError``."""
    done, seen, connection = [], set(), connections[using]
    while drift := inspect(using):
        if drift.refusals:
            raise RepairRefused(drift.refusals, done)
        if (lines := tuple(drift.lines())) in seen:
            raise SchemaRepairError(
                "The database still differs from its migrations after the repair: "
                + "; ".join(lines)
            )
        seen.add(lines)
        structure = [finding for finding in drift.findings if finding.fix]
        if structure:
            _repair_structure(connection, drift.expected, structure)
        else:
            _apply_pending(connection, drift.present)
        done += [f"{f.problem}: {f.repair} — done" for f in structure or drift.findings]
    return done


def _repair_structure(connection, expected: ProjectState, findings: list) -> None:
    """Run the findings' fixes in one schema-editor transaction, from the database as found."""
    state = expected.clone()
    for app_label, operation in filter(None, (finding.as_found for finding in findings)):
        operation.state_forwards(app_label, state)
    try:
        with connection.schema_editor(atomic=True) as editor:
            for finding in sorted(findings, key=lambda finding: finding.phase):
                state = finding.fix(editor, state) or state
    except DatabaseError as error:
        raise SchemaRepairError(
            f"The repair failed and was rolled back, so the schema is unchanged: {error}"
        ) from error


def _apply_pending(connection, present: set) -> None:
    """Apply the migrations not recorded as applied in plan order, recording only those in
    ``present``, and send the signals `migrate` sends."""
    executor = MigrationExecutor(connection)
    leaves, applied = executor.loader.graph.leaf_nodes(), executor.loader.applied_migrations
    plan = executor.migration_plan(leaves)
    emit_pre_migrate_signal(0, False, connection.alias, plan=plan)
    state = ProjectState(real_apps=executor.loader.unmigrated_apps)
    for migration, _ in executor.migration_plan(leaves, clean_start=True):
        key = (migration.app_label, migration.name)
        if key in present:
            executor.record_migration(*key)
        if key in applied or key in present:
            migration.mutate_state(state, preserve=False)
        else:
            state = executor.apply_migration(state, migration)
    emit_post_migrate_signal(0, False, connection.alias, plan=plan)
