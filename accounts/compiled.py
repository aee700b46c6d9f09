"""ORM querysets compiled once to SQL, for code that runs them without the ORM.

The fast lane (accounts.fastlane) answers on the event loop through an async psycopg
connection, where the ORM cannot go without a thread hop. Building and compiling a
queryset is most of what a simple read costs in CPU, so it is done once per process:
the queryset is built with a sentinel in place of each per-call value, compiled by
Django for the connection, and the sentinel's positions in the parameters are
remembered. A call puts its values there, each prepared by the field as the ORM would,
runs the SQL, and converts the columns with the compiler's own converters. The
queryset stays the one definition of the query; the SQL and the rows are Django's.
"""

import uuid
from itertools import count

_sentinels = count(-918_273_645_500, -1)


def _sentinel(field):
    number = next(_sentinels)
    if field.get_internal_type() == "UUIDField":
        return uuid.UUID(int=2**127 + abs(number))
    return number


class CompiledQuery:
    """``build(**values)`` returns the queryset; ``fields`` names the model field that
    types each value (a primary key, say). Compile with ``compile(connection)`` (it may
    read the server's version: call it where the ORM may run), then ``params(...)`` and
    ``rows(raw_rows)`` per call."""

    def __init__(self, build, **fields):
        self.build = build
        self.fields = fields
        self.sql = None

    def compile(self, connection) -> None:
        sentinels = {name: _sentinel(field) for name, field in self.fields.items()}
        compiler = self.build(**sentinels).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = {}
        for name, field in self.fields.items():
            prepared = field.get_db_prep_value(sentinels[name], connection)
            slots[name] = [i for i, param in enumerate(params) if param == prepared]
            if not slots[name]:
                raise ValueError(f"{name} does not reach the compiled SQL of {self.build}")
        selected = [column for column, _, _ in compiler.select[: compiler.col_count]]
        self._connection = connection
        self._converters = [
            (position, converters, expression)
            for position, (converters, expression) in compiler.get_converters(selected).items()
        ]
        self._template = list(params)
        self._slots = slots
        self.sql = sql

    def params(self, **values) -> list:
        """The parameters for one call. None binds NULL, and ``= NULL`` matches no row
        where the ORM would write ``IS NULL``: pass None only where that matches no row
        either (a non-null column)."""
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
        """The rows as the ORM's ``values_list`` would give them: each column through
        the converters the compiler chose for it (JSON parsed, and so on)."""
        if not self._converters:
            return [tuple(row) for row in raw_rows]
        connection = self._connection
        converted = []
        for raw in raw_rows:
            row = list(raw)
            for position, converters, expression in self._converters:
                value = row[position]
                for convert in converters:
                    value = convert(value, expression, connection)
                row[position] = value
            converted.append(tuple(row))
        return converted
