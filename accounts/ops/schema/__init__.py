"""Compare the database with its migrations and repair the difference
(`manage.py repair_schema`).

``inspect(using)`` only reads: it returns the ``Drift``, the migrations not recorded as
applied and, for the tables of ``PROJECT_APPS``, what the migrations define but the database
lacks or holds differently. ``repair(using)`` creates what is missing and applies pending
migrations, through Django's schema editor and migration executor. It never drops a table,
a column or a row, and raises ``RepairRefused`` before changing anything when data is in
the way. How it uses Django: docs/architecture.md, "Schema repair".
"""

from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState

from .drift import PROJECT_APPS, Catalog, Drift, Finding, RepairRefused, SchemaRepairError
from .history import History
from .tables import compare

__all__ = ["PROJECT_APPS", "Drift", "RepairRefused", "SchemaRepairError", "inspect", "repair"]


def inspect(using: str = DEFAULT_DB_ALIAS) -> Drift:
    """Compare the database ``using`` with its migrations and return the drift. Read only."""
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
    pending, in_database = history.pending()
    # A pending migration whose changes are (partly) in the database counts as applied: what
    # it lacks is created before it is recorded.
    applied = executor.loader.applied_migrations
    nodes = [key for key in history.keys if key in applied or key in in_database]
    expected = executor.loader.project_state(nodes=nodes) if nodes else ProjectState()
    findings = compare(history.catalog, expected, history.origin(nodes))
    return Drift(connection.vendor, expected, pending, findings)


def repair(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Make the database ``using`` match its migrations and return what was done, a line
    per repair. Raise ``RepairRefused`` (nothing more changed) or ``SchemaRepairError``."""
    done, seen = [], set()
    drift = inspect(using)
    while drift:
        if drift.refusals:
            raise RepairRefused(drift.refusals, done)
        if tuple(drift.lines()) in seen:
            raise SchemaRepairError(
                "The database still differs from its migrations after the repair: "
                + "; ".join(drift.lines())
            )
        seen.add(tuple(drift.lines()))
        if drift.findings:
            done += _repair_structure(using, drift)
        else:
            done += _apply_pending(using, drift.pending)
        drift = inspect(using)
    return done


def _repair_structure(using: str, drift: Drift) -> list[str]:
    """Run every finding's fix in one schema-editor transaction, starting from the state of
    the database as found."""
    state = drift.expected.clone()
    for finding in filter(lambda finding: finding.as_found, drift.findings):
        app_label, operation = finding.as_found
        operation.state_forwards(app_label, state)
    done = []
    try:
        with connections[using].schema_editor(atomic=True) as editor:
            for finding in sorted(drift.findings, key=lambda finding: finding.phase):
                state = finding.fix(editor, state) or state
                done.append(f"{finding.problem}: {finding.repair} — done")
    except DatabaseError as error:
        raise SchemaRepairError(
            f"The repair failed and was rolled back, so the schema is unchanged: {error}"
        ) from error
    return done


def _apply_pending(using: str, pending: list[Finding]) -> list[str]:
    """Apply or record the pending migrations one at a time, in plan order, and send the
    signals `migrate` sends (content types and permissions of new models)."""
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    emit_pre_migrate_signal(0, False, using, plan=plan)
    for finding in pending:
        finding.fix(executor)
    emit_post_migrate_signal(0, False, using, plan=plan)
    return [f"{finding.problem}: {finding.repair} — done" for finding in pending]
