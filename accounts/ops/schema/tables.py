"""Compare the tables of PROJECT_APPS with the migrations' state: what is missing or
different, the repair that makes it, and the sentence with which the repair refuses."""

import copy

from django.db import models
from django.db.backends.utils import strip_quotes
from django.db.migrations import operations as ops
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q

from .drift import COLUMN, CREATE, NAMED, PROJECT_APPS, STATEMENT, Finding, spell

HOLD, VIOLATE = ("holds", "hold"), ("violates", "violate")


def compare(catalog, state, origin) -> list[Finding]:
    """Return what ``state`` says the tables of PROJECT_APPS hold and the database lacks or
    holds differently; ``origin((kind, table, name))`` names the migration that made it."""
    found = []
    for model in state.apps.get_models(include_auto_created=True):
        if model._meta.app_label in PROJECT_APPS and catalog.migratable(model):
            found += _Table(catalog, model, origin).findings()
    return found


def _rows(count: int, verbs: tuple[str, str] = ("", "")) -> str:
    """Return '1 row holds' / '2 rows hold' for verbs HOLD, or the counted noun alone."""
    return (f"{count} row {verbs[0]}" if count == 1 else f"{count} rows {verbs[1]}").strip()


def _refuse(sentence: str, remedy: str) -> str:
    return f"{sentence} {remedy}, then run repair_schema again."


class _Table:
    """One model's table, compared with what its migrations say it holds."""

    def __init__(self, catalog, model, origin):
        self.catalog, self.model, self.meta = catalog, model, model._meta
        self.table, self.origin = model._meta.db_table, origin
        self.app_label, self.model_name = model._meta.app_label, model._meta.model_name
        self.connection = catalog.connection
        self.editor = catalog.connection.schema_editor(collect_sql=True)  # builds statements

    def findings(self) -> list[Finding]:
        """Return what the table lacks or holds differently, with each repair or refusal."""
        if self.table not in self.catalog.tables:
            return [self._missing_table()]
        found, columns = [], self.catalog.columns(self.table)
        known = [field.column for field in self.meta.local_concrete_fields]
        for field in self.meta.local_concrete_fields:
            if field.column in columns:
                found += self._column(field, columns[field.column])
            elif not self.meta.auto_created:  # a many-to-many table has no state to alter
                found.append(self._missing_column(field))
        for names in self.meta.unique_together:
            fields = [self.meta.get_field(name) for name in names]
            if not self._has([field.column for field in fields], unique=True):
                found.append(self._unique(fields))
        present, testable = self.catalog.constraints(self.table), set(known) <= set(columns)
        for constraint in self.meta.constraints:
            if constraint.name not in present:
                found.append(self._missing_constraint(constraint, testable))
        for index in self.meta.indexes:
            if index.name not in present:
                found.append(
                    self._migration(
                        f"index {index.name} on {self.table} is missing"
                        + self._made("index", index.name),
                        ops.AddIndex(self.model_name, index),
                        ops.RemoveIndex(self.model_name, index.name),
                        NAMED,
                        repair="create it",
                        rebuilds=False,
                    )
                )
        if (extra := sorted(set(columns) - set(known))) and self.connection.vendor == "sqlite":
            for finding in filter(lambda finding: finding.rebuilds, found):
                finding.refusal = _refuse(
                    f"Repairing {self.table} on SQLite rebuilds the table, which would drop its "
                    f"column{'s' if len(extra) > 1 else ''} {', '.join(extra)} that the "
                    "migrations do not know.",
                    "Move that data elsewhere and drop the column yourself",
                )
        return found

    def _has(self, columns, exclude=(), **flags) -> bool:
        return any(
            details["columns"] == columns
            and name not in exclude
            and all(details[key] == flags[key] for key in flags)
            for name, details in self.catalog.constraints(self.table).items()
        )

    def _made(self, kind, name=None) -> str:
        return self.origin((kind, self.table, name))

    def _count(self, **lookups) -> int:
        return self.catalog.count(self.model._default_manager.filter(**lookups))

    def _migration(self, problem, operation, as_found, phase, **details) -> Finding:
        """Return a finding repaired by running a migration operation forwards, from the
        migrations' state with ``as_found`` applied."""

        def fix(editor, state):
            new_state = state.clone()
            operation.state_forwards(self.app_label, new_state)
            operation.database_forwards(self.app_label, editor, state, new_state)
            return new_state

        details = {"repair": "add it", "rebuilds": True, **details}
        return Finding(
            problem, fix=fix, phase=phase, as_found=(self.app_label, as_found), **details
        )

    def _statement(self, what, field, statement, refusal=None) -> Finding:
        """Return a finding repaired by a statement of Django's schema editor."""
        problem = f"{what} is missing" + self._made("column", field.column)
        return Finding(
            problem, "add it", lambda editor, _: editor.execute(statement), STATEMENT, refusal
        )

    # -- tables and columns ------------------------------------------------------------------

    def _missing_table(self) -> Finding:
        meta, label = self.meta, self.meta.label
        if meta.auto_created:
            parent = meta.auto_created._meta
            m2m = next(f for f in parent.local_many_to_many if f.remote_field.through is self.model)
            label = f"the many-to-many table of {parent.label}.{m2m.name}"
        references = []  # rows elsewhere that would refer to nothing in the recreated table
        for relation in meta.get_fields(include_hidden=True):
            if relation.auto_created and (relation.one_to_many or relation.one_to_one):
                field, table = relation.field, relation.field.model._meta.db_table
                if table in self.catalog.tables and field.column in self.catalog.columns(table):
                    rows = field.model._default_manager.filter(
                        **{f"{field.attname}__isnull": False}
                    )
                    if count := self.catalog.count(rows):
                        references.append(f"{_rows(count)} of {table}.{field.column}")
        refusal = references and _refuse(
            f"Table {self.table} is missing while rows elsewhere still refer to its rows "
            f"({', '.join(references)}); recreated empty, it would leave them pointing at nothing.",
            "Restore the table from a backup, or clear those references",
        )

        def fix(editor, state):
            # Automatic many-to-many tables are compared, and created, as models of their own.
            variant = state.clone()
            for m2m in meta.local_many_to_many:
                ops.RemoveField(self.model_name, m2m.name).state_forwards(self.app_label, variant)
            editor.create_model(variant.apps.get_model(self.app_label, self.model_name))

        problem = f"table {self.table} ({label}) is missing" + self._made("table")
        return Finding(
            problem, "create it with its indexes and constraints", fix, CREATE, refusal or None
        )

    def _missing_column(self, field) -> Finding:
        where, rows = f"{self.table}.{field.column}", self._count()
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
        return self._migration(
            f"column {where} ({self.meta.label}.{field.name}) is missing"
            + self._made("column", field.column),
            ops.AddField(self.model_name, field.name, field.clone()),
            ops.RemoveField(self.model_name, field.name),
            COLUMN,
            repair=repair,
            refusal=refusal,
        )

    def _column(self, field, info) -> list[Finding]:
        """Compare an existing column: nullability, type, key, uniqueness, indexes, check."""
        found, where = [], f"{self.table}({field.column})"
        expected_type = spell(field.db_type(self.connection))
        found_type, found_field = self.catalog.read_type(info)
        types = (found_type, expected_type) if expected_type not in (None, found_type) else None
        if not self.meta.auto_created:
            found += self._altered(field, bool(info.null_ok), types, found_field)
        if field.primary_key and not self._has([field.column], primary_key=True):
            statement = self.editor._create_primary_key_sql(self.model, field)
            found.append(self._statement(f"primary key on {where}", field, statement))
        elif field.unique and not field.primary_key and not self._has([field.column], unique=True):
            found.append(self._unique([field]))
        if field.remote_field and field.db_constraint:
            found += self._foreign_key(field)
        if types:  # repaired with the type; the next pass creates what is still missing
            return found
        present = self.catalog.constraints(self.table)
        for statement in self.editor._field_indexes_sql(self.model, field):
            if strip_quotes(str(statement.parts["name"])) not in present:
                opclasses = getattr(statement.parts["columns"], "opclasses", ())
                what = f"pattern-matching index ({opclasses[0]})" if opclasses else "index"
                found.append(self._statement(f"{what} on {where}", field, statement))
        named = [constraint.name for constraint in self.meta.constraints]
        check = self.connection.vendor == "postgresql" and field.db_check(self.connection)
        # SQLite cannot add a check to a table; PostgreSQL's name for the one Django adds.
        if check and not self._has([field.column], named, check=True):
            name = f"{self.table}_{field.column}_check"
            statement = self.editor._create_check_sql(self.model, name, check)
            what = f"check constraint ({check}) on {self.table}.{field.column}"
            found.append(self._statement(what, field, statement))
        return found

    def _altered(self, field, null, types, found_field) -> list[Finding]:
        """Return the nullability and type differences of a column, as one alteration."""
        where = f"{self.table}.{field.column}"
        differences, repairs, refusals = [], [], []
        if null and not field.null:
            differences.append("it allows NULL where the migrations say NOT NULL")
            repairs.append("make it NOT NULL")
            if nulls := self._count(**{f"{field.attname}__isnull": True}):
                sentence = f"Column {where} cannot be made NOT NULL: {_rows(nulls, HOLD)} NULL."
                refusals.append(_refuse(sentence, "Fill them"))
        elif field.null and not null:
            differences.append("it is NOT NULL where the migrations allow NULL")
            repairs.append("allow NULL")
        as_found, (_, _, args, kwargs) = field, field.deconstruct()
        kwargs["null"] = null
        if types:
            differences.append("its type is {} where the migrations say {}".format(*types))
            repairs.append(f"change its type to {types[1]}")
            values = self._count(**{f"{field.attname}__isnull": False})
            held = f"{_rows(values, HOLD)} values that" if values else "it is a key or of a type"
            if values or field.primary_key or field.remote_field or found_field is None:
                sentence = "Column {} is {} where the migrations say {}".format(where, *types)
                sentence += f", and {held} repair_schema will not convert."
                remedy = (
                    "Convert it yourself (an empty column that is not a key is converted for you)"
                )
                refusals.append(_refuse(sentence, remedy))
            else:
                # Indexes and uniqueness as the migrations have them: the type alone changes.
                as_found, (_, _, args, found_kwargs) = found_field, found_field.deconstruct()
                keep = ("null", "unique", "db_index", "db_column")
                kwargs = found_kwargs | {key: kwargs[key] for key in keep if key in kwargs}
        if not differences:
            return []
        return [
            self._migration(
                f"column {where} ({self.meta.label}.{field.name}) differs: "
                + "; ".join(differences)
                + self._made("column", field.column),
                ops.AlterField(self.model_name, field.name, field.clone()),
                ops.AlterField(self.model_name, field.name, as_found.__class__(*args, **kwargs)),
                COLUMN,
                repair=", ".join(repairs),
                refusal=" ".join(refusals) or None,
            )
        ]

    # -- keys and constraints ----------------------------------------------------------------

    def _unique(self, fields) -> Finding:
        what = f"unique constraint on {self.table}({', '.join(field.column for field in fields)})"
        duplicates = self._duplicates(f"The {what}", [F(field.name) for field in fields])
        statement = self.editor._create_unique_sql(self.model, fields)
        return self._statement(what, fields[0], statement, duplicates)

    def _foreign_key(self, field) -> list[Finding]:
        target = field.target_field
        to_table = target.model._meta.db_table
        if self._has([field.column], foreign_key=(to_table, target.column)):
            return []
        key = f"foreign key {self.table}.{field.column} → {to_table}({target.column})"
        orphans = self.model._default_manager.filter(**{f"{field.attname}__isnull": False})
        if to_table in self.catalog.tables:
            existing = target.model._default_manager.values(target.attname)
            orphans = orphans.exclude(**{f"{field.attname}__in": existing})
        refusal = None
        if orphans := self.catalog.count(orphans):
            sentence = f"The {key} cannot be added: {_rows(orphans)} of {self.table} "
            sentence += f"{'refers' if orphans == 1 else 'refer'} to rows that do not exist."
            refusal = _refuse(sentence, "Correct or clear those references")

        def fix(editor, state):
            current = state.apps.get_model(self.app_label, self.model_name)
            new = current._meta.get_field(field.name)
            old = copy.copy(new)  # the same field without its constraint
            old.db_constraint = False
            editor.alter_field(current, old, new)

        problem = f"{key} is missing" + self._made("column", field.column)
        return [Finding(problem, "add it", fix, COLUMN, refusal, rebuilds=True)]

    def _missing_constraint(self, constraint, testable) -> Finding:
        label = f"{constraint.name} on {self.table}"
        unique = isinstance(constraint, models.UniqueConstraint)
        refusal = None
        # With a column still to add, rows cannot be tested; if they violate the constraint,
        # adding it fails and the whole repair is rolled back.
        if testable and unique:
            refusal = self._duplicates(
                f"The unique constraint {label}",
                constraint.expressions or [F(name) for name in constraint.fields],
                constraint.condition,
                constraint.nulls_distinct is not False,
            )
        elif testable and isinstance(constraint, models.CheckConstraint):
            # NOT (condition), as the CHECK itself: NULL passes.
            passes = ExpressionWrapper(constraint.condition, BooleanField())
            rows = self.model._default_manager.alias(_passes=passes).filter(_passes=False)
            if violations := self.catalog.count(rows):
                violate = _rows(violations, VIOLATE)
                sentence = f"The check constraint {label} cannot be added: {violate} it."
                refusal = _refuse(sentence, "Correct those rows")
        return self._migration(
            f"{'unique' if unique else 'check'} constraint {label} is missing"
            + self._made("constraint", constraint.name),
            ops.AddConstraint(self.model_name, constraint),
            ops.RemoveConstraint(self.model_name, constraint.name),
            NAMED,
            refusal=refusal,
            # SQLite makes a unique constraint over expressions or a condition an index, and
            # rebuilds the table for any other.
            rebuilds=not (unique and (constraint.contains_expressions or constraint.condition)),
        )

    def _duplicates(self, subject, expressions, condition=None, nulls_distinct=True) -> str | None:
        """Return the refusal when rows share a value of a would-be unique key, else None."""
        keys = {f"_key{i}": expression for i, expression in enumerate(expressions)}
        rows = self.model._default_manager.filter(condition or Q()).annotate(**keys)
        if nulls_distinct:  # rows with a NULL in the key never collide
            rows = rows.exclude(
                Q.create([(f"{key}__isnull", True) for key in keys], connector=Q.OR)
            )
        groups = rows.values(*keys).annotate(_rows=Count("*")).filter(_rows__gt=1).order_by()
        counts = [group["_rows"] for group in groups.using(self.connection.alias)]
        if not counts:
            return None
        shared = f"{len(counts)} value is" if len(counts) == 1 else f"{len(counts)} values are"
        sentence = f"{subject} cannot be added: {shared} shared by {_rows(sum(counts))}."
        return _refuse(
            sentence, "Resolve the duplicates yourself (repair_schema never deletes rows)"
        )
