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
    """A repair would lose or rewrite data. ``reasons`` holds a sentence per refused repair,
    ``done`` what the run did before it refused (nothing, unless it applied migrations)."""

    def __init__(self, reasons: list[str], done: list[str]):
        self.reasons = reasons
        self.done = done
        super().__init__(" ".join(reasons))


@dataclass
class Finding:
    """A difference between the database and its migrations, and its repair.

    ``fix`` makes the repair: ``fix(editor, state)`` returns the new state, or None when the
    state is unchanged; for a pending migration, ``fix(executor)``. ``as_found`` is the
    ``(app_label, operation)`` that turns the migrations' state into the database as found;
    ``rebuilds`` says whether SQLite repairs it by rebuilding the table.
    """

    problem: str
    repair: str
    fix: Callable
    phase: int = CREATE
    refusal: str | None = None
    as_found: tuple | None = None
    rebuilds: bool = False

    def line(self) -> str:
        if self.refusal:
            return f"{self.problem}; repair refuses: {self.refusal}"
        return f"{self.problem}; repair: {self.repair}"


@dataclass
class Drift:
    """What ``inspect`` found; false when the database matches its migrations."""

    vendor: str
    expected: ProjectState
    pending: list[Finding]
    findings: list[Finding]

    def __bool__(self) -> bool:
        return bool(self.pending or self.findings)

    def lines(self) -> list[str]:
        return [finding.line() for finding in self.pending + self.findings]

    @property
    def refusals(self) -> list[str]:
        return [finding.refusal for finding in self.pending + self.findings if finding.refusal]


class Catalog:
    """The database as ``connection.introspection`` reads it, cached per table."""

    def __init__(self, connection):
        self.connection = connection
        self.tables = set(connection.introspection.table_names())
        self._read = {}

    def _introspect(self, method: str, table: str):
        if (method, table) not in self._read:
            with self.connection.cursor() as cursor:
                read = getattr(self.connection.introspection, method)(cursor, table)
            self._read[method, table] = read
        return self._read[method, table]

    def columns(self, table: str) -> dict:
        return {info.name: info for info in self._introspect("get_table_description", table)}

    def constraints(self, table: str) -> dict:
        return self._introspect("get_constraints", table)

    def has(self, item: tuple) -> bool:
        """Return whether the database holds a ``(kind, table, name)`` item."""
        kind, table, name = item
        if kind == "table" or table not in self.tables:
            return table in self.tables
        return name in (self.columns(table) if kind == "column" else self.constraints(table))

    def read_type(self, info) -> tuple[str, models.Field | None]:
        """Return a column's type, spelled as ``field.db_type`` spells it, and the field
        ``inspectdb`` reads it as (None when it knows no such field)."""
        introspection = self.connection.introspection
        try:
            field_class = getattr(models, introspection.get_field_type(info.type_code, info))
        except (KeyError, AttributeError):
            return spell(str(info.type_code)), None
        sized = field_class is models.CharField and info.display_size
        field = field_class(max_length=int(info.display_size)) if sized else field_class()
        # SQLite keeps the declared type; PostgreSQL's is spelled by the field read.
        sqlite = self.connection.vendor == "sqlite"
        return spell(info.type_code if sqlite else field.db_type(self.connection)), field

    def count(self, queryset) -> int:
        return queryset.using(self.connection.alias).order_by().count()

    def migratable(self, model) -> bool:
        meta = model._meta
        return (
            meta.managed
            and not meta.proxy
            and not meta.swapped
            and router.allow_migrate_model(self.connection.alias, model)
        )


def spell(db_type: str | None) -> str | None:
    """Return a column type in lower case with single spaces."""
    return " ".join(db_type.lower().split()) if db_type else None
