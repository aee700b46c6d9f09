"""The drift ``inspect`` reports, and the database as ``connection.introspection`` reads it."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, router
from django.db.migrations.state import ProjectState

PROJECT_APPS = ("organisations", "accounts")

# The order in which repairs run (docs/architecture.md, "Schema repair").
CREATE, STATEMENT, COLUMN, NAMED = range(4)


class SchemaRepairError(Exception):
    """The database cannot be inspected or repaired; the message says why."""


class RepairRefused(SchemaRepairError):
    """A repair would lose or rewrite data: ``reasons`` holds a sentence per refused repair,
    ``done`` what the run did before it refused."""

    def __init__(self, reasons: list[str], done: list[str]):
        self.reasons, self.done = reasons, done
        super().__init__(" ".join(reasons))


@dataclass
class Finding:
    """A difference between the database and its migrations, and its repair.

    ``fix(editor, state)`` makes the repair and returns the new state, or None when the state
    is unchanged; a pending migration has none. ``as_found`` is the ``(app_label, operation)``
    that turns the migrations' state into the database as found.
    """

    problem: str
    repair: str
    fix: Callable | None = None
    phase: int = CREATE
    refusal: str | None = None
    as_found: tuple | None = None

    def line(self) -> str:
        """Return the problem with its repair, or with the sentence that refuses it."""
        if self.refusal:
            return f"{self.problem}; repair refuses: {self.refusal}"
        return f"{self.problem}; repair: {self.repair}"


@dataclass
class Drift:
    """What ``inspect`` found, pending migrations first; false when there is nothing.
    ``present`` holds the pending migrations whose changes are in the database."""

    vendor: str
    expected: ProjectState
    findings: list[Finding]
    present: set

    def __bool__(self) -> bool:
        return bool(self.findings)

    def lines(self) -> list[str]:
        return [finding.line() for finding in self.findings]

    @property
    def refusals(self) -> list[str]:
        return [finding.refusal for finding in self.findings if finding.refusal]


class Catalog:
    """The tables, columns and constraints of a database, read once."""

    def __init__(self, connection):
        self.connection, introspection = connection, connection.introspection
        with connection.cursor() as cursor:
            self.tables = set(introspection.table_names(cursor))
            self.columns = {table: {} for table in self.tables}
            self.constraints = {}
            for table in self.tables:
                for info in introspection.get_table_description(cursor, table):
                    self.columns[table][info.name] = info
                self.constraints[table] = introspection.get_constraints(cursor, table)

    def has(self, item: tuple) -> bool:
        """Return whether the database holds a ``(kind, table, name)`` item."""
        kind, table, name = item
        if kind == "table" or table not in self.tables:
            return table in self.tables
        return name in (self.columns if kind == "column" else self.constraints)[table]

    def read_type(self, info) -> tuple[str, models.Field | None]:
        """Return a column's type as ``field.db_type`` spells it, and the field ``inspectdb``
        reads it as (None when it knows no such field)."""
        try:
            name = self.connection.introspection.get_field_type(info.type_code, info)
            field_class = getattr(models, name)
        except (KeyError, AttributeError):
            return spell(str(info.type_code)), None
        sized = field_class is models.CharField and info.display_size
        read = field_class(max_length=int(info.display_size)) if sized else field_class()
        sqlite = self.connection.vendor == "sqlite"
        return spell(info.type_code if sqlite else read.db_type(self.connection)), read

    def migrated(self, state, app_labels=None) -> list:
        """Return the models of ``state`` (of ``app_labels`` only, if given) whose tables
        `migrate` makes on this database, many-to-many tables included."""
        return [
            model
            for model in state.apps.get_models(include_auto_created=True)
            if (app_labels is None or model._meta.app_label in app_labels)
            and model._meta.can_migrate(self.connection)
            and router.allow_migrate_model(self.connection.alias, model)
        ]


def spell(db_type: str | None) -> str | None:
    """Return a column type in lower case with single spaces."""
    return " ".join(db_type.lower().split()) if db_type else None
