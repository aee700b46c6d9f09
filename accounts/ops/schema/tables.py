"""Compare the tables of PROJECT_APPS with the migrations' state: what is missing or
different, its repair, and the sentence with which the repair refuses."""

import copy

from django.db import models
from django.db.backends.utils import strip_quotes
from django.db.migrations import Migration
from django.db.migrations import operations as ops
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q

from .drift import COLUMN, CREATE, NAMED, PROJECT_APPS, STATEMENT, Finding, spell


def compare(catalog, state, origin) -> list[Finding]:
    """Return what ``state`` says the tables of PROJECT_APPS hold and the database lacks or
    holds differently; ``origin((kind, table, name))`` names the migration that made it."""
    tables = [_Table(catalog, model, origin) for model in catalog.migrated(state, PROJECT_APPS)]
    return [finding for table in tables for finding in table.findings()]


def _rows(count: int, verb: str = "") -> str:
    """Return '1 row' or '2 rows', followed by ``verb`` agreeing with it ('1 row holds')."""
    rows = f"{count} row" if count == 1 else f"{count} rows"
    return f"{rows} {verb}{'s' if count == 1 else ''}" if verb else rows


def _refuse(sentence: str, remedy: str) -> str:
    return f"{sentence} {remedy}, then run repair_schema again."


class _Table:
    """One model's table, compared with what its migrations say it holds."""

    def __init__(self, catalog, model, origin):
        self.catalog, self.model, self.meta, self.origin = catalog, model, model._meta, origin
        self.table, self.connection = model._meta.db_table, catalog.connection
        self.app_label, self.name = model._meta.app_label, model._meta.model_name
        self.columns = catalog.columns.get(self.table, {})
        self.constraints = catalog.constraints.get(self.table, {})
        self.editor = self.connection.schema_editor(collect_sql=True)  # builds statements
        self.rows = model._default_manager.using(self.connection.alias)

    def findings(self) -> list[Finding]:
        """Return what the table lacks or holds differently, with each repair or refusal."""
        if self.table not in self.catalog.tables:
            return [self._missing_table()]
        found, meta = [], self.meta
        for field in meta.local_concrete_fields:
            if field.column in self.columns:
                found += self._column(field, self.columns[field.column])
            elif not meta.auto_created:
                found.append(self._missing_column(field))
        for names in meta.unique_together:
            found += self._unique([meta.get_field(name) for name in names])
        found += [
            self._named(named)
            for named in [*meta.constraints, *meta.indexes]
            if named.name not in self.constraints
        ]
        return found

    def _has(self, columns, exclude=(), **flags) -> bool:
        """Return whether a constraint not in ``exclude`` covers ``columns`` with ``flags``."""
        return any(
            details["columns"] == columns
            and name not in exclude
            and all(details[key] == value for key, value in flags.items())
            for name, details in self.constraints.items()
        )

    def _count(self, rows) -> int:
        """Return the number of ``rows``, a queryset."""
        return rows.order_by().count()

    def _missing(self, what, kind, name=None) -> str:
        """Return '<what> is missing', naming the migration that made it."""
        return f"{what} is missing{self.origin((kind, self.table, name))}"

    def _finding(self, problem, repair, fix, phase, refusal=None, rebuilds=False, as_found=None):
        """Return a finding. On SQLite, where its repair rebuilds a table that has columns the
        migrations do not know, it is refused: the rebuild would drop them."""
        known = {field.column for field in self.meta.local_concrete_fields}
        extra = sorted(set(self.columns) - known) if self.connection.vendor == "sqlite" else []
        if rebuilds and extra:
            refusal = _refuse(
                f"Repairing {self.table} on SQLite rebuilds the table, which would drop its "
                f"column{'s' if len(extra) > 1 else ''} {', '.join(extra)} that the "
                "migrations do not know.",
                "Move that data elsewhere and drop the column yourself",
            )
        as_found = as_found and (self.app_label, as_found)
        return Finding(problem, repair, fix, phase, refusal or None, as_found)

    def _operation(self, problem, repair, operation, as_found, phase=COLUMN, **details):
        """Return a finding repaired by a migration operation, from the migrations' state with
        ``as_found`` applied."""
        migration = Migration("repair_schema", self.app_label)
        migration.operations = [operation]

        def fix(editor, state):
            return migration.apply(state.clone(), editor)

        details.setdefault("rebuilds", True)
        return self._finding(problem, repair, fix, phase, as_found=as_found, **details)

    def _statement(self, what, field, statement, refusal=None) -> Finding:
        """Return a finding repaired by a statement of Django's schema editor."""
        problem = self._missing(what, "column", field.column)
        return self._finding(
            problem, "add it", lambda e, _: e.execute(statement), STATEMENT, refusal
        )

    def _missing_table(self) -> Finding:
        """Return the finding for the missing table, refused while rows elsewhere refer to it."""
        meta, label, references = self.meta, self.meta.label, []
        if meta.auto_created:
            parent = meta.auto_created._meta
            m2m = next(f for f in parent.local_many_to_many if f.remote_field.through is self.model)
            label = f"the many-to-many table of {parent.label}.{m2m.name}"
        for relation in meta.get_fields(include_hidden=True):
            if relation.auto_created and (relation.one_to_many or relation.one_to_one):
                field, table = relation.field, relation.field.model._meta.db_table
                if field.column in self.catalog.columns.get(table, ()):
                    rows = field.model._default_manager.using(self.connection.alias)
                    if count := self._count(rows.exclude(**{field.attname: None})):
                        references.append(f"{_rows(count)} of {table}.{field.column}")
        refusal = references and _refuse(
            f"Table {self.table} is missing while rows elsewhere still refer to its rows "
            f"({', '.join(references)}); recreated empty, it would leave them pointing at nothing.",
            "Restore the table from a backup, or clear those references",
        )

        def fix(editor, state):
            variant = state.clone()  # without its many-to-many tables: they are models here
            for m2m in meta.local_many_to_many:
                variant.remove_field(self.app_label, self.name, m2m.name)
            editor.create_model(variant.apps.get_model(self.app_label, self.name))

        problem = self._missing(f"table {self.table} ({label})", "table")
        return self._finding(
            problem, "create it with its indexes and constraints", fix, CREATE, refusal
        )

    def _missing_column(self, field) -> Finding:
        """Return the finding for a missing column, refused when rows cannot be filled."""
        where, rows = f"{self.table}.{field.column}", self._count(self.rows)
        repair, refusal, fill = "add it", None, self.editor.effective_default(field)
        if rows and not field.null and fill is None and not field.has_db_default():
            refusal = _refuse(
                f"Column {where} cannot be added: it is NOT NULL without a default and "
                f"{self.table} holds {_rows(rows)}, so there is nothing to fill them with.",
                "Add it yourself as a nullable column, fill it, make it NOT NULL",
            )
        elif rows and not field.null:
            if field.has_db_default():
                fill = "its database default"
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                fill = "the current time"
            else:
                fill = "an empty value" if fill in ("", b"") else repr(fill)
            repair += f", filling the existing {_rows(rows)} with {fill}"
        problem = self._missing(
            f"column {where} ({self.meta.label}.{field.name})", "column", field.column
        )
        add = ops.AddField(self.name, field.name, field.clone())
        remove = ops.RemoveField(self.name, field.name)
        return self._operation(problem, repair, add, remove, refusal=refusal)

    def _column(self, field, info) -> list[Finding]:
        """Compare an existing column: nullability, type, key, uniqueness, indexes, check."""
        where, column = f"{self.table}({field.column})", [field.column]
        found_type, found_field = self.catalog.read_type(info)
        expected = spell(field.db_type(self.connection))
        types = (found_type, expected) if expected not in (None, found_type) else None
        found = [] if self.meta.auto_created else self._altered(field, info, types, found_field)
        if field.primary_key and not self._has(column, primary_key=True):
            statement = self.editor._create_primary_key_sql(self.model, field)
            found.append(self._statement(f"primary key on {where}", field, statement))
        elif not field.primary_key and field.unique:
            found += self._unique([field])
        if field.remote_field and field.db_constraint:
            found += self._foreign_key(field)
        if types:  # the next pass creates what the retyped column still lacks
            return found
        for statement in self.editor._field_indexes_sql(self.model, field):
            if strip_quotes(str(statement.parts["name"])) not in self.constraints:
                opclasses = getattr(statement.parts["columns"], "opclasses", ())
                what = f"pattern-matching index ({opclasses[0]})" if opclasses else "index"
                found.append(self._statement(f"{what} on {where}", field, statement))
        named = [constraint.name for constraint in self.meta.constraints]
        check = self.connection.vendor == "postgresql" and field.db_check(self.connection)
        if check and not self._has(column, named, check=True):
            name = f"{self.table}_{field.column}_check"  # the name PostgreSQL gives it
            statement = self.editor._create_check_sql(self.model, name, check)
            what = f"check constraint ({check}) on {self.table}.{field.column}"
            found.append(self._statement(what, field, statement))
        return found

    def _altered(self, field, info, types, found_field) -> list[Finding]:
        """Return the nullability and type differences of a column, as one alteration."""
        where, differences, repairs, refusals = f"{self.table}.{field.column}", [], [], []
        null = bool(info.null_ok)
        if null and not field.null:
            differences.append("it allows NULL where the migrations say NOT NULL")
            repairs.append("make it NOT NULL")
            if nulls := self._count(self.rows.filter(**{field.attname: None})):
                sentence = f"Column {where} cannot be made NOT NULL: {_rows(nulls, 'hold')} NULL."
                refusals.append(_refuse(sentence, "Fill them"))
        elif field.null and not null:
            differences.append("it is NOT NULL where the migrations allow NULL")
            repairs.append("allow NULL")
        as_found, (_, _, args, kwargs) = field, field.deconstruct()
        if types:
            differences.append("its type is {} where the migrations say {}".format(*types))
            repairs.append(f"change its type to {types[1]}")
            values = self._count(self.rows.exclude(**{field.attname: None}))
            held = f"{_rows(values, 'hold')} values that" if values else "it is a key or of a type"
            if values or field.primary_key or field.remote_field or found_field is None:
                sentence = "Column {} is {} where the migrations say {}".format(where, *types)
                sentence += f", and {held} repair_schema will not convert."
                remedy = (
                    "Convert it yourself (an empty column that is not a key is converted for you)"
                )
                refusals.append(_refuse(sentence, remedy))
            else:  # the column as found: its type, with the migrations' indexes and uniqueness
                keep = ("unique", "db_index", "db_column")
                kept = {key: kwargs[key] for key in keep if key in kwargs}
                as_found, (_, _, args, kwargs) = found_field, found_field.deconstruct()
                kwargs |= kept
        if not differences:
            return []
        problem = f"column {where} ({self.meta.label}.{field.name}) differs: "
        problem += "; ".join(differences) + self.origin(("column", self.table, field.column))
        alter = ops.AlterField(self.name, field.name, field.clone())
        found = ops.AlterField(
            self.name, field.name, as_found.__class__(*args, **kwargs | {"null": null})
        )
        refusal = " ".join(refusals)
        return [self._operation(problem, ", ".join(repairs), alter, found, refusal=refusal)]

    def _unique(self, fields) -> list[Finding]:
        """Return a finding when the unique constraint over ``fields`` is missing."""
        if self._has([field.column for field in fields], unique=True):
            return []
        what = f"unique constraint on {self.table}({', '.join(field.column for field in fields)})"
        duplicates = self._duplicates(f"The {what}", [F(field.name) for field in fields])
        statement = self.editor._create_unique_sql(self.model, fields)
        return [self._statement(what, fields[0], statement, duplicates)]

    def _foreign_key(self, field) -> list[Finding]:
        """Return a finding when the foreign key of ``field`` is missing."""
        target, refusal = field.target_field, None
        to_table = target.model._meta.db_table
        if self._has([field.column], foreign_key=(to_table, target.column)):
            return []
        key = f"foreign key {self.table}.{field.column} → {to_table}({target.column})"
        orphans = self.rows.exclude(**{field.attname: None})
        if to_table in self.catalog.tables:
            existing = target.model._default_manager.values(target.attname)
            orphans = orphans.exclude(**{f"{field.attname}__in": existing})
        if orphans := self._count(orphans):
            sentence = f"The {key} cannot be added: {_rows(orphans)} of {self.table} "
            sentence += f"{'refers' if orphans == 1 else 'refer'} to rows that do not exist."
            refusal = _refuse(sentence, "Correct or clear those references")

        def fix(editor, state):
            current = state.apps.get_model(self.app_label, self.name)
            new = current._meta.get_field(field.name)
            old = copy.copy(new)  # the same field without its constraint
            old.db_constraint = False
            editor.alter_field(current, old, new)

        problem = self._missing(key, "column", field.column)
        return [self._finding(problem, "add it", fix, COLUMN, refusal, rebuilds=True)]

    def _named(self, named) -> Finding:
        """Return the finding for a missing ``Meta.indexes`` index or ``Meta.constraints``
        constraint, refused when the table's rows would break it."""
        what, refusal, name = f"{named.name} on {self.table}", None, named.name
        if isinstance(named, models.Index):
            problem = self._missing(f"index {what}", "index", name)
            add, remove = ops.AddIndex(self.name, named), ops.RemoveIndex(self.name, name)
            return self._operation(problem, "create it", add, remove, NAMED, rebuilds=False)
        unique = isinstance(named, models.UniqueConstraint)
        testable = {field.column for field in self.meta.local_concrete_fields} <= set(self.columns)
        if testable and unique:
            refusal = self._duplicates(
                f"The unique constraint {what}",
                named.expressions or [F(name) for name in named.fields],
                named.condition,
                named.nulls_distinct is not False,
            )
        elif testable and isinstance(named, models.CheckConstraint):
            passes = ExpressionWrapper(named.condition, BooleanField())  # NULL passes, as in SQL
            if violations := self._count(self.rows.alias(_passes=passes).filter(_passes=False)):
                violate = _rows(violations, "violate")
                sentence = f"The check constraint {what} cannot be added: {violate} it."
                refusal = _refuse(sentence, "Correct those rows")
        problem = self._missing(
            f"{'unique' if unique else 'check'} constraint {what}", "constraint", name
        )
        add, remove = ops.AddConstraint(self.name, named), ops.RemoveConstraint(self.name, name)
        rebuilds = not (unique and (named.contains_expressions or named.condition))
        return self._operation(
            problem, "add it", add, remove, NAMED, refusal=refusal, rebuilds=rebuilds
        )

    def _duplicates(self, subject, expressions, condition=None, nulls_distinct=True) -> str | None:
        """Return the refusal when rows share a value of a would-be unique key, else None."""
        keys = {f"_key{i}": expression for i, expression in enumerate(expressions)}
        rows = self.rows.filter(condition or Q()).annotate(**keys)
        if nulls_distinct:  # rows with a NULL in the key never collide
            rows = rows.exclude(
                Q.create([(f"{key}__isnull", True) for key in keys], connector=Q.OR)
            )
        groups = rows.values(*keys).annotate(_rows=Count("*")).filter(_rows__gt=1).order_by()
        if not (counts := [group["_rows"] for group in groups]):
            return None
        shared = f"{len(counts)} value is" if len(counts) == 1 else f"{len(counts)} values are"
        return _refuse(
            f"{subject} cannot be added: {shared} shared by {_rows(sum(counts))}.",
            "Resolve the duplicates yourself (repair_schema never deletes rows)",
        )
