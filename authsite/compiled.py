"""ORM querysets compiled once to SQL, for code that runs them without the ORM.

The fast lane (authsite.fastlane) answers on the event loop through an async psycopg
connection, where the ORM cannot go without a thread hop. Building and compiling a
queryset is most of what a simple read costs in CPU, so it is done once per process:
the queryset is built with a sentinel in place of each per-call value, compiled by
Django for the connection, and the sentinel's positions in the parameters are
remembered. A call puts its values there, each prepared by the field as the ORM would,
runs the SQL, and converts the columns with the compiler's own converters. The
queryset stays the one definition of the query; the SQL and the rows are Django's.

Django's path runs these statements through ``run_prepared``: on PostgreSQL the
server then parses and plans each once per connection, not at every call.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import count

import psycopg
from django.db import transaction
from django.db.models import sql

_sentinels = count(-918_273_645_500, -1)


def _sentinel(field):
    number = next(_sentinels)
    kind = field.get_internal_type()
    if kind == "UUIDField":
        return uuid.UUID(int=2**127 + abs(number))
    if kind == "DateTimeField":
        return _SENTINEL_EPOCH + timedelta(microseconds=abs(number))
    return number


_SENTINEL_EPOCH = datetime(1901, 1, 1, tzinfo=UTC)


class CompiledQuery:
    """A queryset compiled once, then run with each call's values.

    ``build(**values)`` returns the queryset; ``fields`` names the model field that
    types each value (a primary key, say). Compile with ``compile(connection)`` (it may
    read the server's version: call it where the ORM may run), then ``params(...)`` and
    ``rows(raw_rows)`` per call."""

    def __init__(self, build, **fields):
        self.build = build
        self.fields = fields
        self.sql = None

    def compile(self, connection) -> None:
        sentinels = {name: _sentinel(field) for name, field in self.fields.items()}
        compiler = self._compiler_for(sentinels, connection)
        sql, params = compiler.as_sql()
        slots = {}
        for name, field in self.fields.items():
            prepared = field.get_db_prep_value(sentinels[name], connection)
            slots[name] = [i for i, param in enumerate(params) if param == prepared]
            if not slots[name]:
                raise ValueError(f"{name} does not reach the compiled SQL of {self.build}")
        self._connection = connection
        self._compiler = compiler
        self._template = list(params)
        self._slots = slots
        self._prepare_rows(compiler, connection)
        self.sql = sql

    def _compiler_for(self, sentinels, connection):
        return self.build(**sentinels).query.get_compiler(connection=connection)

    def _prepare_rows(self, compiler, connection) -> None:
        selected = [column for column, _, _ in compiler.select[: compiler.col_count]]
        self.column_types = [column.output_field.db_type(connection) for column in selected]
        self._converters = compiler.get_converters(selected)

    def params(self, **values) -> list:
        """Return the parameters for one call. None binds NULL, and ``= NULL`` matches no
        row where the ORM would write ``IS NULL``: pass None only where that matches no
        row either (a non-null column)."""
        params = list(self._template)
        for name, positions in self._slots.items():
            field = self.fields[name]
            value = values[name]
            if value is not None:
                value = field.get_db_prep_value(field.to_python(value), self._connection)
            for position in positions:
                params[position] = value
        return params

    def rows(self, raw_rows) -> list[tuple]:
        """Return the rows as the ORM's ``values_list`` would give them: each column
        through the converters the compiler chose for it at compile time (JSON parsed,
        and so on)."""
        if not self._converters:
            return [tuple(row) for row in raw_rows]
        return [tuple(row) for row in self._compiler.apply_converters(raw_rows, self._converters)]

    def fetch(self, connection, **values) -> list[tuple]:
        """Return the rows (``rows``) for one call, run on Django's ``connection``
        (``run_prepared``); compile first if needed."""
        if self.sql is None:
            self.compile(connection)
        return _fetch(self, connection, self.params(**values))


def _fetch(query, connection, params) -> list:
    """Return ``query.rows`` of the compiled ``query`` run with ``params`` on Django's
    ``connection`` (``run_prepared``)."""
    with run_prepared(connection, query.sql, params) as cursor:
        return query.rows(cursor.fetchall())


def run_prepared(connection, sql: str, params):
    """Run Django's ``sql`` with ``params`` and return the cursor, to be closed (a
    context manager). On PostgreSQL the statement is prepared on the server once per
    connection and sent numbered as compiled once per process (``server_statement``),
    through a cursor wrapped as ``connection.cursor()`` wraps its own (query logging,
    execute wrappers, Django's exceptions); elsewhere through ``connection.cursor()``.
    Only for SQL that Django compiled once and runs at every call (this module's):
    Django's own cursors bind on the client."""
    if connection.vendor != "postgresql":
        cursor = connection.cursor()
    else:
        connection.ensure_connection()
        connection.validate_thread_sharing()
        with connection.wrap_database_errors:
            # Binding on the server, psycopg prepares what it runs (the settings'
            # prepare_threshold) and keeps each statement prepared on its connection;
            # a raw cursor sends the statement as given, without converting it again.
            raw = psycopg.RawCursor(connection.connection)
        if connection.queries_logged:
            cursor = connection.make_debug_cursor(raw)
        else:
            cursor = connection.make_cursor(raw)
        sql = server_statement(sql)
    try:
        cursor.execute(sql, params)
    except BaseException:
        cursor.close()
        raise
    return cursor


class CompiledUpdate(CompiledQuery):
    """``build(**selecting).update(**written)`` compiled once: ``updated`` names the
    values that are written, the other ``fields`` those ``build`` selects the rows with.
    Run its ``sql`` with ``params(...)`` of all of them; the row count says how many rows
    it updated."""

    def __init__(self, build, updated: tuple[str, ...], **fields):
        super().__init__(build, **fields)
        self.updated = updated

    def _compiler_for(self, sentinels, connection):
        selecting = {name: value for name, value in sentinels.items() if name not in self.updated}
        query = self.build(**selecting).query.chain(sql.UpdateQuery)
        query.add_update_values({name: sentinels[name] for name in self.updated})
        return query.get_compiler(connection=connection)

    def _prepare_rows(self, compiler, connection) -> None:
        self.column_types, self._converters = [], []

    def run(self, connection, **values) -> int:
        """Run the update with one call's values on Django's ``connection``
        (``run_prepared``), compiling first if needed; return how many rows it updated."""
        if self.sql is None:
            self.compile(connection)
        with run_prepared(connection, self.sql, self.params(**values)) as cursor:
            return cursor.rowcount


class CompiledBatch:
    """Several compiled queries sent as one PostgreSQL statement, for one round trip: a
    UNION ALL of their SQL, each query's columns in a slice of its own (typed NULLs
    elsewhere), every row tagged with its query and its position in that query's order.
    ``rows`` hands each query its own rows, in its own order."""

    def __init__(self, *queries: CompiledQuery):
        self.queries = queries
        self.sql = None

    def compile(self, connection) -> None:
        for query in self.queries:
            if query.sql is None:
                query.compile(connection)
        types = [kind for query in self.queries for kind in query.column_types]
        if None in types:
            raise ValueError("every column of a batched query needs a database type")
        parts, start = [], 0
        for number, query in enumerate(self.queries):
            width = len(query.column_types)
            aliases = ", ".join(f"c{i}" for i in range(width))
            columns = [
                f"q.c{i - start}" if start <= i < start + width else f"NULL::{kind}"
                for i, kind in enumerate(types)
            ]
            # row_number() over the subquery's rows numbers them in its ORDER BY order.
            # Only Django's compiled SQL and column types go in; values are parameters.
            parts.append(
                f"SELECT {number}, row_number() OVER (), {', '.join(columns)} "  # noqa: S608
                f"FROM ({query.sql}) AS q({aliases})"
            )
            start += width
        self._slices = []
        start = 2
        for query in self.queries:
            self._slices.append(slice(start, start + len(query.column_types)))
            start += len(query.column_types)
        self.sql = " UNION ALL ".join(parts) + " ORDER BY 1, 2"

    def params(self, *values: dict) -> list:
        """Return the parameters for one call, given one mapping of values per query, in
        order."""
        return [
            param
            for query, query_values in zip(self.queries, values, strict=True)
            for param in query.params(**query_values)
        ]

    def fetch(self, connection, *values: dict) -> list[list[tuple]]:
        """Return each query's rows (``rows``) for one call, run on Django's
        ``connection`` (``run_prepared``); compile first if needed."""
        if self.sql is None:
            self.compile(connection)
        return _fetch(self, connection, self.params(*values))

    def rows(self, raw_rows) -> list[list[tuple]]:
        """Return each query's rows, as its ``rows`` gives them."""
        raw_by_query = [[] for _ in self.queries]
        for raw in raw_rows:
            raw_by_query[raw[0]].append(raw[self._slices[raw[0]]])
        return [query.rows(raw) for query, raw in zip(self.queries, raw_by_query, strict=True)]


def insert_statement(obj, connection) -> tuple[str, tuple]:
    """Return (SQL, parameters) of the INSERT that ``obj.save()`` would run for a new row
    of a model with an automatic primary key, returning that key. Django's compiler
    prepares the values, with each field's ``pre_save`` (``auto_now_add`` sets the
    instance's value); the SQL is compiled once per model. Raise ValueError for a row
    already saved."""
    model = type(obj)
    fields = [f for f in model._meta.local_concrete_fields if not f.generated]
    fields = [f for f in fields if f is not model._meta.auto_field]
    query = sql.InsertQuery(model)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(connection=connection)
    statement = _insert_sql.get((model, connection.alias))
    if statement is None:
        compiler.returning_fields = [model._meta.pk]
        [(statement, _)] = compiler.as_sql()
        _insert_sql[model, connection.alias] = statement
    if not obj._state.adding:
        # save(force_insert=True)'s rule, and AuditEvent's: a saved row is never inserted again.
        raise ValueError(f"{model.__name__} {obj.pk} is already saved; only new rows are inserted.")
    values = [compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in fields]
    _, [params] = compiler.assemble_as_sql(fields, [values])
    return statement, tuple(params)


_insert_sql: dict = {}


_PLACEHOLDER = re.compile(r"%(.?)")


def numbered_placeholders(sql: str) -> bytes:
    """Return Django's SQL for PostgreSQL with the server's own numbered placeholders
    ($1, $2, ...) in place of its ``%s`` ones and ``%`` for ``%%``, encoded: the
    statement as psycopg's raw cursors send it. Raise ValueError for any other ``%``
    sequence (Django writes none)."""
    numbers = count(1)

    def replace(match) -> str:
        if match.group(1) == "s":
            return f"${next(numbers)}"
        if match.group(1) == "%":
            return "%"
        raise ValueError(f"unexpected {match.group(0)!r} in SQL: only %s and %% are placeholders")

    return _PLACEHOLDER.sub(replace, sql).encode()


# The statements as the server runs them, converted once per process: Django's SQL is
# the key, the same string object at every call of a compiled statement.
server_statement = lru_cache(maxsize=64)(numbered_placeholders)


def linked_inserts_statement(first, then, json_field: str, key: str, query, connection, **values):
    """Return (SQL, parameters) of one PostgreSQL statement that inserts ``first``, then
    ``then`` (two new rows, each as ``insert_statement`` inserts it) with ``first``'s new
    primary key under ``key`` in ``then``'s JSON field ``json_field`` (an object), and
    answers the rows of the CompiledQuery ``query`` for ``values`` (``query.rows`` reads
    them; the query sees the database as it was before the inserts), or with ``query``
    None, ``first``'s new primary key. One statement is atomic by itself, in one round
    trip. Raise ValueError as ``insert_statement`` does."""
    if query is not None and query.sql is None:
        query.compile(connection)
    first_sql, first_params = insert_statement(first, connection)
    then_sql, then_params = insert_statement(then, connection)
    model = type(then)
    fields = [f for f in model._meta.local_concrete_fields if not f.generated]
    fields = [f for f in fields if f is not model._meta.auto_field]
    position = fields.index(model._meta.get_field(json_field))
    shape = (type(first), model, json_field, query, connection.alias)
    statement = _linked_sql.get(shape)
    if statement is None:
        then_values = then_sql.split("%s")
        if len(then_values) != len(fields) + 1:
            raise ValueError(f"{model.__name__}'s INSERT has other placeholders than its values")
        first_key = connection.ops.quote_name(type(first)._meta.pk.column)
        # The JSON value's placeholder becomes (%s || {key: first's key}), the key a
        # parameter: only Django's compiled SQL and a quoted column name go in.
        then_values[position] += "("
        link = f" || jsonb_build_object(%s::text, (SELECT {first_key} FROM first_row)))"  # noqa: S608
        then_values[position + 1] = link + then_values[position + 1]
        answer = query.sql if query is not None else f"SELECT {first_key} FROM first_row"  # noqa: S608
        statement = (
            f"WITH first_row AS ({first_sql}), then_row AS ({'%s'.join(then_values)}) " + answer
        )
        _linked_sql[shape] = statement
    params = [*first_params, *then_params, *(query.params(**values) if query is not None else ())]
    params.insert(len(first_params) + position + 1, key)
    return statement, tuple(params)


_linked_sql: dict = {}


def insert_linked(first, then, json_field: str, key: str, connection, query=None, **values):
    """Insert ``first``, then ``then`` with ``first``'s new primary key under ``key`` in
    its JSON field ``json_field``: both or neither. On PostgreSQL in one statement
    (``linked_inserts_statement``), returning the raw rows it answers (``query``'s, or
    ``first``'s key); elsewhere through the ORM in a transaction, returning None."""
    if connection.vendor != "postgresql":
        with transaction.atomic(using=connection.alias):
            first.save(force_insert=True)
            getattr(then, json_field)[key] = first.pk
            then.save()
        return None
    sql, params = linked_inserts_statement(
        first, then, json_field, key, query, connection, **values
    )
    # Inside a transaction a failure marks it for rollback, as a failed save() does.
    with (
        transaction.mark_for_rollback_on_error(connection.alias),
        run_prepared(connection, sql, params) as cursor,
    ):
        return cursor.fetchall()
