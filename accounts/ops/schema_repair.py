"""Compare the database with what its migrations say it holds, and repair the difference.

The truth is the migrations, never hand-written SQL: the expected schema is the project
state at the migrations recorded as applied in ``django_migrations`` (Django's
``MigrationLoader``), read back through ``connection.introspection``, and every repair is
made by Django's schema editor, so a repaired database is one ``migrate`` would have built.

Contract:

- ``inspect(using)`` only reads. It returns the ``Drift``: migrations not recorded as
  applied (for every app), each with what of it the database already holds; and, for the
  tables of ``PROJECT_APPS`` only, what the migrations recorded as applied (and pending
  ones already in the database) say exists but the database lacks or holds differently.
  Each finding says what is wrong, where, which migration made it when that is known, and
  what the repair would do, or the sentence with which the repair refuses.
- ``repair(using)`` never drops a table, a column or a row and never rewrites a stored
  value. When any repair would lose data or needs a decision only a person can make (a
  NOT NULL column with nothing to fill existing rows with, a unique or check constraint
  that existing rows violate, a column of the wrong type holding values ...), it raises
  ``RepairRefused`` before changing anything. Otherwise it creates what is missing,
  applies pending migrations one at a time (recording as applied, without running them,
  those whose changes are already in the database), creates what those still lack, and
  checks that nothing is left; a second run finds nothing to do. Each structural repair
  is one schema-editor transaction: a failure leaves the schema as it was. On SQLite,
  where altering a table means rebuilding it from the migrations' state, the rebuilt
  table carries only the indexes and constraints the migrations know, and a table with
  columns they do not know is refused rather than rebuilt.

Compared, per model of ``PROJECT_APPS``: the table (and its automatic many-to-many
tables with their foreign keys and unique pair); each column's presence, type
(``field.db_type`` against the introspected type, normalised per vendor) and nullability;
named indexes and constraints (``Meta.indexes``, ``Meta.constraints``: unique, functional,
conditional and check) by name; and per field, by the columns they cover, the primary
key, the unique constraint, the index (on PostgreSQL also the ``_like`` pattern-matching
index), the foreign key, and on PostgreSQL the check a field type adds
(``PositiveSmallIntegerField``). Not compared: what the database holds beyond the
migrations (extra tables, columns, indexes are left alone), the definition of a named
constraint that exists, defaults, comments and collations. SQLite and PostgreSQL only.
"""

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.core.exceptions import FieldDoesNotExist
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router
from django.db.backends.utils import truncate_name
from django.db.migrations import operations
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q

PROJECT_APPS = ("organisations", "accounts")
SUPPORTED_VENDORS = ("sqlite", "postgresql")

# Order in which repairs run inside the schema editor: a table before anything on it;
# plain indexes before anything that rebuilds a SQLite table (a rebuild recreates the
# model's indexes, and would collide with one created after it); named indexes and
# constraints last because they may cover added columns.
CREATE_TABLE, FIELD_INDEX, FIELD_UNIQUE, ALTER_COLUMN, ADD_COLUMN, NAMED = range(6)

# Integer types by width: a wider one holds every value of a narrower one, so the repair
# may widen a column that holds data (see is_widening).
INTEGER_WIDTH = {"smallint": 1, "integer": 2, "bigint": 3}


class SchemaRepairError(Exception):
    """The database cannot be inspected or repaired; the message says why."""


class RepairRefused(SchemaRepairError):
    """A repair would lose or rewrite data; nothing more was changed.

    ``reasons`` holds one sentence per refused repair, ``done`` what this run had
    already done before it found them (nothing, unless pending migrations were applied).
    """

    def __init__(self, reasons: list[str], done: list[str]):
        self.reasons = reasons
        self.done = done
        super().__init__(" ".join(reasons))


@dataclass
class Finding:
    """One difference between the database and its applied migrations.

    ``as_found`` is a migration operation that turns the migrations' state into the state
    of the database as found (for example RemoveField for a missing column); ``fix`` takes
    a schema editor and the current state, makes the repair, and returns the new state.
    ``rebuilds`` says whether SQLite makes the repair by rebuilding the table.
    """

    problem: str
    repair: str
    refusal: str | None = None
    phase: int = CREATE_TABLE
    app_label: str = ""
    as_found: operations.base.Operation | None = None
    fix: Callable | None = None
    rebuilds: bool = False

    def line(self) -> str:
        if self.refusal:
            return f"{self.problem}; repair refuses: {self.refusal}"
        return f"{self.problem}; repair: {self.repair}"


@dataclass
class PendingMigration:
    """A migration not recorded as applied, with what of it the database already holds."""

    app_label: str
    name: str
    present: list[str] = dataclass_field(default_factory=list)
    missing: list[str] = dataclass_field(default_factory=list)
    runs_code: bool = False

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def already_in_database(self) -> bool:
        return bool(self.present)

    @property
    def refusal(self) -> str | None:
        if self.present and self.missing and self.app_label not in PROJECT_APPS:
            return (
                f"Migration {self.label} is only partly in the database (missing: "
                f"{', '.join(self.missing)}) and repair_schema repairs only the tables of "
                f"{' and '.join(PROJECT_APPS)}; finish it by hand, then run repair_schema again."
            )
        return None

    def line(self) -> str:
        if not self.present:
            return f"migration {self.label} is not applied; repair: apply it"
        problem = f"migration {self.label} is not recorded as applied"
        if self.missing:
            problem += (
                f" and only part of it is in the database (missing: {', '.join(self.missing)})"
            )
            repair = "create the missing parts, then record it as applied"
        else:
            problem += " but its changes are already in the database"
            repair = "record it as applied without running it"
        if self.runs_code:
            repair += " (its RunPython/RunSQL operations are not run)"
        if self.refusal:
            return f"{problem}; repair refuses: {self.refusal}"
        return f"{problem}; repair: {repair}"


@dataclass
class Drift:
    """What ``inspect`` found. Empty when the database matches its migrations."""

    alias: str
    vendor: str
    expected: ProjectState
    pending: list[PendingMigration]
    findings: list[Finding]

    def __bool__(self) -> bool:
        return bool(self.pending or self.findings)

    def lines(self) -> list[str]:
        return [migration.line() for migration in self.pending] + [
            finding.line() for finding in self.findings
        ]

    @property
    def refusals(self) -> list[str]:
        reasons = [migration.refusal for migration in self.pending if migration.refusal]
        return reasons + [finding.refusal for finding in self.findings if finding.refusal]


def inspect(using: str = DEFAULT_DB_ALIAS) -> Drift:
    """Compare the database ``using`` with its migrations. Reads only."""
    connection = connections[using]
    if connection.vendor not in SUPPORTED_VENDORS:
        raise SchemaRepairError(
            f"repair_schema supports SQLite and PostgreSQL; database '{using}' is "
            f"{connection.vendor}."
        )
    executor = MigrationExecutor(connection)
    loader = executor.loader
    conflicts = loader.detect_conflicts()
    if conflicts:
        apps = ", ".join(sorted(conflicts))
        raise SchemaRepairError(
            f"The migrations of {apps} have more than one leaf; merge them with "
            "`manage.py makemigrations --merge` first."
        )
    database = _Database(connection)
    full_plan = [
        (migration.app_label, migration.name)
        for migration, _ in executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True)
    ]
    applied = [key for key in full_plan if key in loader.applied_migrations]
    pending = _pending(loader, database, full_plan, set(applied))
    # A pending migration whose changes are (partly) in the database counts as applied:
    # the database is compared with it, so what it changed is not reported as drift and
    # what it lacks is created before it is recorded.
    in_database = {(m.app_label, m.name) for m in pending if m.already_in_database}
    nodes = [key for key in full_plan if key in loader.applied_migrations or key in in_database]
    expected = loader.project_state(nodes=nodes) if nodes else ProjectState()
    origins = {}
    for key in nodes:
        for item, effect in _items(loader.graph.nodes[key]):
            if effect != REMOVED:
                origins[item] = (key, key in loader.applied_migrations)
    findings = _Inspection(connection, database, expected, origins).findings()
    return Drift(using, connection.vendor, expected, pending, findings)


def repair(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Make the database ``using`` match its migrations; return what was done, one line
    per repair. Raises ``RepairRefused`` (nothing more changed) or ``SchemaRepairError``."""
    done = []
    drift = inspect(using)
    if drift.refusals:
        raise RepairRefused(drift.refusals, done)
    if drift.findings:
        done += _repair_structure(drift)
        drift = inspect(using)
    if drift.pending:
        done += _apply_pending(using, drift.pending)
        drift = inspect(using)
        if drift.pending:
            raise SchemaRepairError(
                "Migrations are still pending after they were applied: "
                + ", ".join(migration.label for migration in drift.pending)
            )
        if drift.refusals:
            raise RepairRefused(drift.refusals, done)
        if drift.findings:
            done += _repair_structure(drift)
            drift = inspect(using)
    if drift:
        raise SchemaRepairError(
            "The database still differs from its migrations after the repair: "
            + "; ".join(drift.lines())
        )
    return done


# --- what the database holds -------------------------------------------------------------


class _Database:
    """The database as found, read through ``connection.introspection`` and cached per
    table. Column types are normalised so that they compare with ``field.db_type``."""

    def __init__(self, connection):
        self.connection = connection
        with connection.cursor() as cursor:
            self.tables = set(connection.introspection.table_names(cursor))
        self._columns = {}
        self._constraints = {}
        self._types = {}
        self._pattern_indexes = {}

    def columns(self, table: str) -> dict:
        if table not in self._columns:
            with self.connection.cursor() as cursor:
                description = self.connection.introspection.get_table_description(cursor, table)
            self._columns[table] = {info.name: info for info in description}
        return self._columns[table]

    def constraints(self, table: str) -> dict:
        if table not in self._constraints:
            with self.connection.cursor() as cursor:
                self._constraints[table] = self.connection.introspection.get_constraints(
                    cursor, table
                )
        return self._constraints[table]

    def types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            if self.connection.vendor == "postgresql":
                # Introspection gives PostgreSQL types as OIDs without their modifiers;
                # format_type spells them as a CREATE TABLE would, length included.
                with self.connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                        [self.connection.ops.quote_name(table)],
                    )
                    found = dict(cursor.fetchall())
            else:
                found = {name: info.type_code for name, info in self.columns(table).items()}
            self._types[table] = {
                name: normalise_type(self.connection, db_type) for name, db_type in found.items()
            }
        return self._types[table]

    def pattern_indexes(self, table: str) -> set[str]:
        """Names of the PostgreSQL indexes built with a *_pattern_ops operator class."""
        if table not in self._pattern_indexes:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT DISTINCT index_class.relname FROM pg_index"
                    " JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid"
                    " CROSS JOIN LATERAL unnest(pg_index.indclass::oid[]) AS used(opclass)"
                    " JOIN pg_opclass ON pg_opclass.oid = used.opclass"
                    " WHERE pg_index.indrelid = %s::regclass"
                    " AND pg_opclass.opcname LIKE %s",
                    [self.connection.ops.quote_name(table), "%pattern_ops"],
                )
                self._pattern_indexes[table] = {row[0] for row in cursor.fetchall()}
        return self._pattern_indexes[table]

    def exists(self, item: tuple) -> bool:
        kind, table, name = item
        if table not in self.tables:
            return False
        if kind == "table":
            return True
        if kind == "column":
            return name in self.columns(table)
        return name in self.constraints(table)


def normalise_type(connection, db_type: str | None) -> str | None:
    """A column type spelled one way per vendor: lower case, single spaces, no spaces
    around parentheses and commas, PostgreSQL's long names shortened to Django's."""
    if db_type is None:
        return None
    spelled = " ".join(db_type.lower().split())
    spelled = re.sub(r"\s*([(),])\s*", r"\1", spelled)
    if connection.vendor == "postgresql":
        spelled = re.sub(r"^character varying\b", "varchar", spelled)
        spelled = re.sub(r"^character\(", "char(", spelled)
    return spelled


def is_widening(found: str, expected: str) -> bool:
    """True when every value of type ``found`` is kept unchanged by type ``expected``."""
    found_length = re.fullmatch(r"varchar\((\d+)\)", found)
    if found_length:
        expected_length = re.fullmatch(r"varchar\((\d+)\)", expected)
        if expected_length:
            return int(expected_length[1]) >= int(found_length[1])
        return expected == "text"
    if found in INTEGER_WIDTH and expected in INTEGER_WIDTH:
        return INTEGER_WIDTH[expected] >= INTEGER_WIDTH[found]
    return False


# --- migrations: what each one makes, and which are pending ------------------------------


MADE, REMOVED, CHANGED = "made", "removed", "changed"


def _items(migration):
    """Yield (item, effect) for what the migration's operations do, as logical keys
    ("table"|"column"|"constraint"|"index", app, model, name). ``effect`` is MADE or
    REMOVED when the database can show whether it happened, CHANGED otherwise."""
    app = migration.app_label
    for operation in migration.operations:
        if isinstance(operation, operations.CreateModel):
            model = operation.name_lower
            yield ("table", app, model, None), MADE
            for name, _ in operation.fields:
                yield ("column", app, model, name), MADE
            for constraint in operation.options.get("constraints", []):
                yield ("constraint", app, model, constraint.name), MADE
            for index in operation.options.get("indexes", []):
                yield ("index", app, model, index.name), MADE
        elif isinstance(operation, operations.DeleteModel):
            yield ("table", app, operation.name_lower, None), REMOVED
        elif isinstance(operation, operations.AddField):
            yield ("column", app, operation.model_name_lower, operation.name), MADE
        elif isinstance(operation, operations.RemoveField):
            yield ("column", app, operation.model_name_lower, operation.name), REMOVED
        elif isinstance(operation, operations.AlterField):
            yield ("column", app, operation.model_name_lower, operation.name), CHANGED
        elif isinstance(operation, operations.RenameField):
            yield ("column", app, operation.model_name_lower, operation.new_name), CHANGED
        elif isinstance(operation, operations.AddConstraint):
            model = operation.model_name_lower
            yield ("constraint", app, model, operation.constraint.name), MADE
        elif isinstance(operation, operations.RemoveConstraint):
            yield ("constraint", app, operation.model_name_lower, operation.name), REMOVED
        elif isinstance(operation, operations.AddIndex):
            yield ("index", app, operation.model_name_lower, operation.index.name), MADE
        elif isinstance(operation, operations.RemoveIndex):
            yield ("index", app, operation.model_name_lower, operation.name), REMOVED
        elif isinstance(operation, operations.RenameIndex):
            yield ("index", app, operation.model_name_lower, operation.new_name), MADE


def _resolve(item, apps, connection):
    """The physical (kind, table, name) of a logical item in a rendered state, or None
    when the state does not have it or it has no table of its own on this database."""
    kind, app_label, model_name, name = item
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return None
    if not _migratable(connection, model):
        return None
    table = model._meta.db_table
    if kind == "table":
        return ("table", table, None)
    if kind == "column":
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.many_to_many:
            through = field.remote_field.through
            return ("table", through._meta.db_table, None) if through._meta.auto_created else None
        return ("column", table, field.column) if field.column else None
    return (kind, table, name)


def _describe(item) -> str:
    kind, table, name = item
    return f"table {table}" if kind == "table" else f"{kind} {table}.{name}"


def _pending(loader, database, full_plan, applied) -> list[PendingMigration]:
    """The migrations of ``full_plan`` not in ``applied``, each with what of it the
    database already holds. Names are read from the state just before a migration (what
    it removes) and just after it (what it makes), walking the plan once; what a later
    migration undoes says nothing about this one and is not looked at."""
    if all(key in applied for key in full_plan):
        return []
    effects = []
    state = ProjectState(real_apps=loader.unmigrated_apps)
    for key in full_plan:
        migration = loader.graph.nodes[key]
        items = list(_items(migration))
        removed = _physical(items, REMOVED, state.apps, database.connection)
        state = migration.mutate_state(state, preserve=False)
        made = _physical(items, MADE, state.apps, database.connection)
        effects.append((migration, made, removed))
    pending = []
    for position, (migration, made, removed) in enumerate(effects):
        if (migration.app_label, migration.name) in applied:
            continue
        later = effects[position + 1 :]
        undone = {item for _, _, later_removed in later for item in later_removed}
        redone = {item for _, later_made, _ in later for item in later_made}
        entry = PendingMigration(
            migration.app_label,
            migration.name,
            runs_code=any(
                isinstance(op, operations.RunPython | operations.RunSQL)
                for op in migration.operations
            ),
        )
        for item in made:
            if item not in undone:
                bucket = entry.present if database.exists(item) else entry.missing
                bucket.append(_describe(item))
        for item in removed:
            if item not in redone:
                if database.exists(item):
                    entry.missing.append(f"{_describe(item)} it removes is still there")
                else:
                    entry.present.append(_describe(item))
        pending.append(entry)
    return pending


def _physical(items, effect, apps, connection) -> list[tuple]:
    found = []
    for item, item_effect in items:
        physical = _resolve(item, apps, connection) if item_effect == effect else None
        if physical is not None and physical not in found:
            found.append(physical)
    return found


def _apply_pending(using: str, pending: list[PendingMigration]) -> list[str]:
    """Apply pending migrations one at a time in plan order, so each finds its
    dependencies applied; record without running those already in the database (running
    them would fail on what exists; the structural repair creates any missing part)."""
    connection = connections[using]
    executor = MigrationExecutor(connection)
    to_run = [
        (executor.loader.graph.nodes[(m.app_label, m.name)], False)
        for m in pending
        if not m.already_in_database
    ]
    if to_run:
        emit_pre_migrate_signal(0, False, using, plan=to_run)
    done = []
    for entry in pending:
        key = (entry.app_label, entry.name)
        migration = executor.loader.graph.nodes[key]
        if entry.already_in_database:
            executor.record_migration(*key)
            done.append(
                f"recorded migration {entry.label} as applied (its changes were already "
                "in the database)"
            )
        else:
            executor.migrate([key], plan=[(migration, False)])
            done.append(f"applied migration {entry.label}")
        # The executor builds each migration's starting state from this set.
        executor.loader.applied_migrations[key] = migration
    if to_run:
        # What `migrate` does afterwards: content types and permissions of new models.
        emit_post_migrate_signal(0, False, using, plan=to_run)
    return done


def _migratable(connection, model) -> bool:
    meta = model._meta
    return (
        meta.managed
        and not meta.proxy
        and not meta.swapped
        and router.allow_migrate_model(connection.alias, model)
    )


# --- what the applied migrations say exists but the database lacks ------------------------


class _Inspection:
    """Walk the models of PROJECT_APPS in the expected state and collect the findings."""

    def __init__(self, connection, database, expected, origins):
        self.connection = connection
        self.database = database
        self.expected = expected
        self.origins = origins
        self.editor = connection.schema_editor(collect_sql=True)

    def findings(self) -> list[Finding]:
        found = []
        apps = self.expected.apps
        for model in apps.get_models():
            if model._meta.app_label in PROJECT_APPS and _migratable(self.connection, model):
                found += self._model(model)
        return found

    def _origin(self, kind, model, name=None) -> str:
        origin = self.origins.get((kind, model._meta.app_label, model._meta.model_name, name))
        if origin is None:
            return ""
        (app_label, migration), recorded = origin
        status = "recorded as applied" if recorded else "not recorded as applied"
        return f" (made by migration {app_label}.{migration}, {status})"

    def _count(self, queryset) -> int:
        return queryset.using(self.connection.alias).order_by().count()

    # -- tables ------------------------------------------------------------------------

    def _model(self, model) -> list[Finding]:
        meta = model._meta
        found = []
        if meta.db_table not in self.database.tables:
            found.append(self._missing_table(model))
        for m2m in meta.local_many_to_many:
            through = m2m.remote_field.through
            if not through._meta.auto_created:
                continue
            if through._meta.db_table in self.database.tables:
                found += self._through(model, m2m)
            elif meta.db_table in self.database.tables:
                found.append(self._missing_through(model, m2m))
        if meta.db_table not in self.database.tables:
            return found
        missing_columns = []
        columns = self.database.columns(meta.db_table)
        for field in meta.local_concrete_fields:
            if field.column not in columns:
                missing_columns.append(field.column)
                found.append(self._missing_column(model, field))
            else:
                found += self._column(model, field)
        present = self.database.constraints(meta.db_table)
        for constraint in meta.constraints:
            if constraint.name not in present:
                found.append(self._missing_constraint(model, constraint, missing_columns))
        for index in meta.indexes:
            if index.name not in present:
                found.append(self._missing_index(model, index))
        known = {field.column for field in meta.local_concrete_fields}
        extra = sorted(set(columns) - known)
        if self.connection.vendor == "sqlite" and extra:
            # SQLite alters a table by rebuilding it from the model, which would drop
            # the columns the migrations do not know.
            for finding in found:
                if finding.rebuilds:
                    finding.refusal = (
                        f"Repairing {meta.db_table} on SQLite rebuilds the table, which would "
                        f"drop its column{'s' if len(extra) > 1 else ''} {', '.join(extra)} "
                        "that the migrations do not know. Move that data elsewhere and drop "
                        "the column yourself, then run repair_schema again."
                    )
        return found

    def _missing_table(self, model) -> Finding:
        meta = model._meta
        app_label, model_name = meta.app_label, meta.model_name
        # create_model also creates the automatic many-to-many tables; those that survived
        # are left out of the model it is given, or creating them would fail.
        kept = [
            m2m.name
            for m2m in meta.local_many_to_many
            if m2m.remote_field.through._meta.auto_created
            and m2m.remote_field.through._meta.db_table in self.database.tables
        ]

        def fix(editor, state):
            variant = state.clone() if kept else state
            for name in kept:
                operations.RemoveField(model_name, name).state_forwards(app_label, variant)
            editor.create_model(variant.apps.get_model(app_label, model_name))
            return state

        # Rows elsewhere that point at the lost rows would point at nothing in the
        # recreated, empty table.
        references = []
        for relation in meta.get_fields(include_hidden=True):
            if not (relation.auto_created and (relation.one_to_many or relation.one_to_one)):
                continue
            referencing = relation.related_model
            table = referencing._meta.db_table
            if table in self.database.tables and relation.field.column in self.database.columns(
                table
            ):
                count = self._count(
                    referencing._default_manager.filter(
                        **{f"{relation.field.attname}__isnull": False}
                    )
                )
                if count:
                    references.append(f"{_rows(count)} of {table}.{relation.field.column}")
        refusal = None
        if references:
            refusal = (
                f"Table {meta.db_table} is missing while rows elsewhere still refer to its rows "
                f"({', '.join(references)}); recreated empty, it would leave them pointing at "
                "nothing. Restore the table from a backup, or clear those references, then run "
                "repair_schema again."
            )
        return Finding(
            problem=f"table {meta.db_table} ({meta.label}) is missing"
            + self._origin("table", model),
            repair="create it with its indexes and constraints",
            refusal=refusal,
            phase=CREATE_TABLE,
            fix=fix,
        )

    def _through(self, model, m2m) -> list[Finding]:
        """The foreign keys and the unique pair of an automatic many-to-many table, which
        has no state of its own to alter: repaired by the schema editor directly."""
        found = []
        through = m2m.remote_field.through
        meta = through._meta
        app_label, model_name = model._meta.app_label, model._meta.model_name
        origin = self._origin("column", model, m2m.name)

        def current_through(state):
            parent = state.apps.get_model(app_label, model_name)
            return parent._meta.get_field(m2m.name).remote_field.through

        for field in meta.local_concrete_fields:
            if not field.remote_field or self._has_foreign_key(through, field):
                continue
            target = field.target_field
            where = f"{meta.db_table}.{field.column}"
            orphans = self._orphans(through, field)

            def fix(editor, state, name=field.name):
                current = current_through(state)
                new = current._meta.get_field(name)
                # The same field without its constraint: the schema editor adds just the
                # foreign key (PostgreSQL) or rebuilds the table with it (SQLite).
                old = copy.copy(new)
                old.db_constraint = False
                editor.alter_field(current, old, new)
                return state

            found.append(
                Finding(
                    problem=f"foreign key {where} → {target.model._meta.db_table}"
                    f"({target.column}) is missing" + origin,
                    repair="add it",
                    refusal=(
                        f"The foreign key {where} cannot be added: {_rows(orphans)} of "
                        f"{meta.db_table} {'refers' if orphans == 1 else 'refer'} to rows that "
                        "do not exist. Delete or correct those rows, then run repair_schema "
                        "again."
                    )
                    if orphans
                    else None,
                    phase=FIELD_UNIQUE,
                    fix=fix,
                    rebuilds=True,
                )
            )
        pair = [meta.get_field(name) for name in meta.unique_together[0]]
        columns = [field.column for field in pair]
        if not any(
            details["unique"] and details["columns"] == columns
            for details in self.database.constraints(meta.db_table).values()
        ):
            duplicates = self._duplicates(
                through, {f"_key{i}": F(field.name) for i, field in enumerate(pair)}
            )

            def fix(editor, state):
                current = current_through(state)
                name = editor._create_index_name(meta.db_table, columns, suffix="_uniq")
                # On SQLite this rebuilds the table from the model, whose pair is unique.
                editor.add_constraint(
                    current,
                    models.UniqueConstraint(fields=[field.name for field in pair], name=name),
                )
                return state

            subject = f"The unique constraint on {meta.db_table}({', '.join(columns)})"
            found.append(
                Finding(
                    problem=f"unique constraint on {meta.db_table}({', '.join(columns)}) is "
                    "missing" + origin,
                    repair="add it",
                    refusal=_duplicates_sentence(subject, duplicates) if duplicates else None,
                    phase=FIELD_UNIQUE,
                    fix=fix,
                    rebuilds=True,
                )
            )
        return found

    def _missing_through(self, model, m2m) -> Finding:
        app_label, model_name = model._meta.app_label, model._meta.model_name

        def fix(editor, state):
            parent = state.apps.get_model(app_label, model_name)
            editor.create_model(parent._meta.get_field(m2m.name).remote_field.through)
            return state

        return Finding(
            problem=f"table {m2m.remote_field.through._meta.db_table} (the many-to-many table "
            f"of {model._meta.label}.{m2m.name}) is missing"
            + self._origin("column", model, m2m.name),
            repair="create it",
            phase=CREATE_TABLE,
            fix=fix,
        )

    # -- columns -----------------------------------------------------------------------

    def _expected_field(self, model, name):
        meta = model._meta
        return self.expected.models[meta.app_label, meta.model_name].fields[name].clone()

    def _state_fix(self, model, operation):
        app_label = model._meta.app_label

        def fix(editor, state):
            new_state = state.clone()
            operation.state_forwards(app_label, new_state)
            operation.database_forwards(app_label, editor, state, new_state)
            return new_state

        return fix

    def _missing_column(self, model, field) -> Finding:
        meta = model._meta
        where = f"{meta.db_table}.{field.column}"
        rows = self._count(model._default_manager.all())
        fills = self.editor.effective_default(field) is not None or (
            field.db_default is not models.NOT_PROVIDED
        )
        refusal = None
        if field.null or not rows:
            repair = "add it"
        elif not fills:
            repair = "add it"
            refusal = (
                f"Column {where} cannot be added: it is NOT NULL without a default and "
                f"{meta.db_table} holds {_rows(rows)}, so there is nothing to fill them with. "
                "Add it yourself as a nullable column, fill it, make it NOT NULL, then run "
                "repair_schema again."
            )
        elif field.unique and rows > 1:
            repair = "add it"
            refusal = (
                f"Column {where} cannot be added: it is unique and its default would give "
                f"all {_rows(rows)} of {meta.db_table} the same value. Add and fill it yourself, "
                "then run repair_schema again."
            )
        else:
            repair = f"add it, filling the existing {_rows(rows)} with {_fill(field)}"
        return Finding(
            problem=f"column {where} ({meta.label}.{field.name}) is missing"
            + self._origin("column", model, field.name),
            repair=repair,
            refusal=refusal,
            phase=ADD_COLUMN,
            rebuilds=True,
            app_label=meta.app_label,
            as_found=operations.RemoveField(meta.model_name, field.name),
            fix=self._state_fix(
                model,
                operations.AddField(
                    meta.model_name, field.name, self._expected_field(model, field.name)
                ),
            ),
        )

    def _column(self, model, field) -> list[Finding]:
        found = []
        expected_type = normalise_type(self.connection, field.db_type(self.connection))
        found_type = self.database.types(model._meta.db_table)[field.column]
        type_differs = expected_type is not None and found_type != expected_type
        altered = self._altered_column(
            model, field, (found_type, expected_type) if type_differs else None
        )
        if altered:
            found.append(altered)
        constraints = self.database.constraints(model._meta.db_table)
        if field.primary_key and not any(
            details["primary_key"] and details["columns"] == [field.column]
            for details in constraints.values()
        ):
            found.append(self._missing_primary_key(model, field))
        if field.unique and not field.primary_key and not _covers(constraints, field, unique=True):
            found.append(self._missing_field_unique(model, field))
        if field.db_index and not field.unique and not self._has_plain_index(model, field):
            found.append(self._missing_field_index(model, field))
        if self.connection.vendor == "postgresql" and not type_differs:
            found += self._missing_postgresql_extras(model, field)
        return found

    def _missing_primary_key(self, model, field) -> Finding:
        meta = model._meta
        where = f"{meta.db_table}({field.column})"
        duplicates = self._duplicates(model, {"_key": F(field.name)}, nulls_distinct=False)
        refusal = (
            _duplicates_sentence(f"The primary key on {where}", duplicates) if duplicates else None
        )
        quote = self.connection.ops.quote_name
        # The name PostgreSQL gives the key of a table Django creates. (A SQLite table
        # cannot lose its key: it is part of the table definition.)
        name = truncate_name(f"{meta.db_table}_pkey", self.connection.ops.max_name_length())

        def fix(editor, state):
            editor.execute(
                editor.sql_create_pk
                % {
                    "table": quote(meta.db_table),
                    "name": quote(name),
                    "columns": quote(field.column),
                }
            )
            return state

        return Finding(
            problem=f"primary key on {where} is missing" + self._origin("table", model),
            repair="add it",
            refusal=refusal,
            # Before foreign keys are added: they need the key they point at.
            phase=FIELD_UNIQUE,
            fix=fix,
        )

    def _altered_column(self, model, field, types) -> Finding | None:
        """Nullability, type (``types`` is (found, expected) when they differ) and foreign
        key of an existing column, as one alteration."""
        meta = model._meta
        table, column = meta.db_table, field.column
        info = self.database.columns(table)[column]
        where = f"{table}.{column}"
        differences, repairs, refusals = [], [], []
        _, _, args, kwargs = self._expected_field(model, field.name).deconstruct()
        found_null = bool(info.null_ok)

        if found_null != field.null:
            kwargs["null"] = found_null
            if field.null:
                differences.append("it is NOT NULL where the migrations allow NULL")
                repairs.append("allow NULL")
            else:
                differences.append("it allows NULL where the migrations say NOT NULL")
                repairs.append("make it NOT NULL")
                nulls = self._count(
                    model._default_manager.filter(**{f"{field.attname}__isnull": True})
                )
                if nulls:
                    refusals.append(
                        f"Column {where} cannot be made NOT NULL: "
                        f"{_rows(nulls, 'holds', 'hold')} NULL. Fill them, then run "
                        "repair_schema again."
                    )

        if (
            field.remote_field
            and field.db_constraint
            and self.connection.features.supports_foreign_keys
            and not self._has_foreign_key(model, field)
        ):
            kwargs["db_constraint"] = False
            target = field.target_field
            target_table = target.model._meta.db_table
            differences.append(f"its foreign key to {target_table}({target.column}) is missing")
            repairs.append("add the foreign key")
            orphans = self._orphans(model, field)
            if orphans:
                refusals.append(
                    f"The foreign key {where} → {target_table}({target.column}) cannot be "
                    f"added: {_rows(orphans)} of {table} {'refers' if orphans == 1 else 'refer'} "
                    f"to rows of {target_table} that do not exist. Correct or clear those "
                    "references, then run repair_schema again."
                )

        as_found = field.__class__(*args, **kwargs)
        if types:
            found_type, expected_type = types
            differences.append(f"its type is {found_type} where the migrations say {expected_type}")
            repairs.append(f"change its type to {expected_type}")
            as_found, refusal = self._as_found_type(model, field, info, found_null, types)
            if refusal:
                refusals.append(refusal)

        if not differences:
            return None
        return Finding(
            problem=f"column {where} ({meta.label}.{field.name}) differs: "
            + "; ".join(differences)
            + self._origin("column", model, field.name),
            repair=", ".join(repairs),
            refusal=" ".join(refusals) or None,
            phase=ALTER_COLUMN,
            rebuilds=True,
            app_label=meta.app_label,
            as_found=operations.AlterField(meta.model_name, field.name, as_found),
            fix=self._state_fix(
                model,
                operations.AlterField(
                    meta.model_name, field.name, self._expected_field(model, field.name)
                ),
            ),
        )

    def _as_found_type(self, model, field, info, found_null, types):
        """A field describing the column as found, for the schema editor to alter from,
        and the refusal when the alteration would not keep every value unchanged."""
        found_type, expected_type = types
        where = f"{model._meta.db_table}.{field.column}"
        if field.primary_key or field.remote_field:
            return None, (
                f"Column {where} is {found_type} where the migrations say {expected_type}, and "
                "repair_schema does not change the type of a key. Convert it yourself, then "
                "run repair_schema again."
            )
        values = self._count(model._default_manager.filter(**{f"{field.attname}__isnull": False}))
        if values and not is_widening(found_type, expected_type):
            return None, (
                f"Column {where} is {found_type} where the migrations say {expected_type}, "
                f"and {_rows(values, 'holds', 'hold')} values that repair_schema will not convert. "
                "Convert or move those values yourself (an empty column is converted "
                "automatically), then run repair_schema again."
            )
        # The inspectdb reading of the introspected type, checked to spell it exactly.
        try:
            class_name = self.connection.introspection.get_field_type(info.type_code, info)
        except KeyError:
            class_name = None
        field_class = getattr(models, class_name, None) if class_name else None
        # Indexes and uniqueness as the migrations have them: the type change alone is
        # made, and the field-level findings repair those separately.
        params = {
            "null": found_null,
            "unique": field.unique,
            "db_index": field.db_index,
            "db_column": field.db_column,
        }
        if field_class is models.CharField and info.display_size:
            params["max_length"] = int(info.display_size)
        if field_class is models.DecimalField:
            params.update(max_digits=info.precision, decimal_places=info.scale)
        as_found = field_class(**params) if field_class else None
        if (
            as_found is None
            or normalise_type(self.connection, as_found.db_type(self.connection)) != found_type
        ):
            return None, (
                f"Column {where} is {found_type} where the migrations say {expected_type}, "
                "a type repair_schema cannot convert from. Convert it yourself, then run "
                "repair_schema again."
            )
        return as_found, None

    def _has_foreign_key(self, model, field) -> bool:
        target = (field.target_field.model._meta.db_table, field.target_field.column)
        return any(
            details["foreign_key"] == target and details["columns"] == [field.column]
            for details in self.database.constraints(model._meta.db_table).values()
        )

    def _orphans(self, model, field) -> int:
        referencing = model._default_manager.filter(**{f"{field.attname}__isnull": False})
        target = field.target_field
        if target.model._meta.db_table not in self.database.tables:
            return self._count(referencing)
        existing = target.model._default_manager.values(target.attname)
        return self._count(referencing.exclude(**{f"{field.attname}__in": existing}))

    # -- per-field indexes and constraints ---------------------------------------------

    def _has_plain_index(self, model, field) -> bool:
        table = model._meta.db_table
        pattern = (
            self.database.pattern_indexes(table) if self.connection.vendor == "postgresql" else ()
        )
        return any(
            name not in pattern
            for name, details in self.database.constraints(table).items()
            if details["columns"] == [field.column]
            and (details["index"] or details["unique"])
            and not details["primary_key"]
        )

    def _missing_field_unique(self, model, field) -> Finding:
        meta = model._meta
        duplicates = self._duplicates(model, {"_key": F(field.name)})
        refusal = None
        if duplicates:
            refusal = _duplicates_sentence(
                f"The unique constraint on {meta.db_table}({field.column})", duplicates
            )
        app_label, model_name, name = meta.app_label, meta.model_name, field.name

        def fix(editor, state):
            current = state.apps.get_model(app_label, model_name)
            column = current._meta.get_field(name).column
            constraint = models.UniqueConstraint(
                fields=[name],
                # The name Django itself gives a unique constraint it adds to a column.
                name=editor._create_index_name(current._meta.db_table, [column], suffix="_uniq"),
            )
            # On SQLite this rebuilds the table from the model, whose field is unique.
            editor.add_constraint(current, constraint)
            return state

        return Finding(
            problem=f"unique constraint on {meta.db_table}({field.column}) ({meta.label}."
            f"{field.name}) is missing" + self._origin("column", model, field.name),
            repair="add it",
            refusal=refusal,
            phase=FIELD_UNIQUE,
            fix=fix,
            rebuilds=True,
        )

    def _missing_field_index(self, model, field, opclass=None) -> Finding:
        meta = model._meta
        app_label, model_name, name = meta.app_label, meta.model_name, field.name

        def fix(editor, state):
            current = state.apps.get_model(app_label, model_name)
            column = current._meta.get_field(name).column
            # The names Django itself gives these indexes: a later migration that drops
            # the pattern-matching index finds it by this name.
            index_name = editor._create_index_name(
                current._meta.db_table, [column], suffix="_like" if opclass else ""
            )
            editor.add_index(
                current,
                models.Index(
                    fields=[name], name=index_name, opclasses=[opclass] if opclass else ()
                ),
            )
            return state

        what = f"pattern-matching index ({opclass})" if opclass else "index"
        return Finding(
            problem=f"{what} on {meta.db_table}({field.column}) ({meta.label}.{field.name}) "
            "is missing" + self._origin("column", model, field.name),
            repair="create it",
            phase=FIELD_INDEX,
            fix=fix,
        )

    def _missing_postgresql_extras(self, model, field) -> list[Finding]:
        """The `_like` index and the column check that PostgreSQL's schema editor adds."""
        found = []
        table = model._meta.db_table
        db_type = field.db_type(self.connection) or ""
        if (field.db_index or field.unique) and "[" not in db_type:
            opclass = {"varchar": "varchar_pattern_ops", "text": "text_pattern_ops"}.get(
                re.match(r"[a-z]*", db_type)[0]
            )
            pattern = self.database.pattern_indexes(table)
            if opclass and not any(
                name in pattern and details["columns"] == [field.column]
                for name, details in self.database.constraints(table).items()
            ):
                found.append(self._missing_field_index(model, field, opclass))
        check = field.db_check(self.connection)
        if check:
            named = {constraint.name for constraint in model._meta.constraints}
            if not any(
                details["check"] and details["columns"] == [field.column] and name not in named
                for name, details in self.database.constraints(table).items()
            ):
                found.append(self._missing_field_check(model, field, check))
        return found

    def _missing_field_check(self, model, field, check) -> Finding:
        meta = model._meta
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {quote(meta.db_table)} WHERE NOT ({check})")  # noqa: S608 (Django's own check SQL)
            violations = cursor.fetchone()[0]
        refusal = None
        if violations:
            refusal = (
                f"The check ({check}) on {meta.db_table}.{field.column} cannot be added: "
                f"{_rows(violations, 'violates', 'violate')} it. Correct those rows, then run "
                "repair_schema again."
            )
        # The name PostgreSQL gives this check when Django creates the column.
        name = truncate_name(
            f"{meta.db_table}_{field.column}_check", self.connection.ops.max_name_length()
        )

        def fix(editor, state):
            editor.execute(
                editor.sql_create_check
                % {"table": quote(meta.db_table), "name": quote(name), "check": check}
            )
            return state

        return Finding(
            problem=f"check constraint ({check}) on {meta.db_table}.{field.column} "
            f"({meta.label}.{field.name}) is missing" + self._origin("column", model, field.name),
            repair="add it",
            refusal=refusal,
            phase=FIELD_INDEX,
            fix=fix,
        )

    # -- named indexes and constraints -------------------------------------------------

    def _missing_constraint(self, model, constraint, missing_columns) -> Finding:
        meta = model._meta
        label = f"{constraint.name} on {meta.db_table}"
        refusal = None
        # With a column still to add, rows cannot be tested against the constraint yet; if
        # they violate it, adding it fails and the whole repair is rolled back.
        if isinstance(constraint, models.UniqueConstraint):
            kind = "unique constraint"
            if not missing_columns:
                duplicates = self._duplicates(
                    model,
                    {
                        f"_key{i}": expression
                        for i, expression in enumerate(
                            constraint.expressions or [F(name) for name in constraint.fields]
                        )
                    },
                    constraint.condition,
                    constraint.nulls_distinct is not False,
                )
                if duplicates:
                    refusal = _duplicates_sentence(f"The unique constraint {label}", duplicates)
        else:
            kind = "check constraint"
            if not missing_columns and isinstance(constraint, models.CheckConstraint):
                violations = self._count(
                    model._default_manager.alias(
                        # NOT (condition), like the CHECK itself: NULL passes.
                        _passes=ExpressionWrapper(constraint.condition, BooleanField())
                    ).filter(_passes=False)
                )
                if violations:
                    refusal = (
                        f"The check constraint {label} cannot be added: "
                        f"{_rows(violations, 'violates', 'violate')} it. Correct those rows, "
                        "then run repair_schema again."
                    )
        return Finding(
            problem=f"{kind} {label} is missing"
            + self._origin("constraint", model, constraint.name),
            repair="add it",
            refusal=refusal,
            phase=NAMED,
            app_label=meta.app_label,
            as_found=operations.RemoveConstraint(meta.model_name, constraint.name),
            fix=self._state_fix(model, operations.AddConstraint(meta.model_name, constraint)),
            # SQLite makes a unique constraint over expressions or a condition an index;
            # any other constraint is part of the table definition.
            rebuilds=not (
                isinstance(constraint, models.UniqueConstraint)
                and (constraint.contains_expressions or constraint.condition)
            ),
        )

    def _missing_index(self, model, index) -> Finding:
        meta = model._meta
        return Finding(
            problem=f"index {index.name} on {meta.db_table} is missing"
            + self._origin("index", model, index.name),
            repair="create it",
            phase=NAMED,
            app_label=meta.app_label,
            as_found=operations.RemoveIndex(meta.model_name, index.name),
            fix=self._state_fix(model, operations.AddIndex(meta.model_name, index)),
        )

    def _duplicates(self, model, keys, condition=None, nulls_distinct=True):
        """(values held by more than one row, rows holding them) for a would-be unique key,
        or None when no value is held twice."""
        rows = model._default_manager.all()
        if condition is not None:
            rows = rows.filter(condition)
        rows = rows.annotate(**keys)
        if nulls_distinct:
            # Rows with a NULL in the key never collide under a unique constraint.
            rows = rows.exclude(
                Q.create([(f"{key}__isnull", True) for key in keys], connector=Q.OR)
            )
        groups = (
            rows.values(*keys)
            .annotate(_rows=Count("*"))
            .filter(_rows__gt=1)
            .order_by()
            .using(self.connection.alias)
        )
        counts = [group["_rows"] for group in groups]
        return (len(counts), sum(counts)) if counts else None


def _covers(constraints, field, *, unique) -> bool:
    return any(
        details["columns"] == [field.column]
        and details["unique"] == unique
        and not details["primary_key"]
        for details in constraints.values()
    )


def _duplicates_sentence(subject: str, duplicates: tuple[int, int]) -> str:
    values, rows = duplicates
    return (
        f"{subject} cannot be added: {values} value{'s' if values != 1 else ''} "
        f"{'are' if values != 1 else 'is'} shared by {_rows(rows)}. Resolve the duplicates "
        "yourself (repair_schema never deletes rows), then run repair_schema again."
    )


def _rows(count: int, singular_verb: str = "", plural_verb: str = "") -> str:
    """'1 row holds' / '2 rows hold', or just the counted noun without verbs."""
    counted = f"{count} row {singular_verb}" if count == 1 else f"{count} rows {plural_verb}"
    return counted.strip()


def _fill(field) -> str:
    if field.has_default():
        return repr(field.get_default())
    if field.db_default is not models.NOT_PROVIDED:
        return "its database default"
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return "the current time"
    return "an empty value"


# --- making the repairs -------------------------------------------------------------------


def _repair_structure(drift: Drift) -> list[str]:
    """Run every finding's fix in one schema editor (one transaction on both SQLite and
    PostgreSQL), starting from the state of the database as found."""
    state = drift.expected.clone()
    for finding in drift.findings:
        if finding.as_found is not None:
            finding.as_found.state_forwards(finding.app_label, state)
    done = []
    try:
        with connections[drift.alias].schema_editor(atomic=True) as editor:
            for finding in sorted(drift.findings, key=lambda finding: finding.phase):
                state = finding.fix(editor, state)
                done.append(f"{finding.problem}: {finding.repair} — done")
    except DatabaseError as error:
        raise SchemaRepairError(
            f"The repair failed and was rolled back, so the schema is unchanged: {error}"
        ) from error
    return done
