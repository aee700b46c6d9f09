"""The change lists' paginator: a count that does not read the whole table
(docs/architecture.md, "At scale")."""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# The estimate from ``estimate_from`` rows on, else the exact count, in one query.
_WHOLE_TABLE = (
    "SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint "
    "ELSE (SELECT count(*) FROM {table}) END FROM pg_class WHERE oid = %s::regclass"
)


class EstimatedCountPaginator(Paginator):
    """A paginator that counts an unfiltered list of a large PostgreSQL table from the
    planner's estimate (``pg_class.reltuples``, kept by ANALYZE and autovacuum) instead
    of ``COUNT(*)``, which reads every row: one query either way, the estimate when it
    is at least ``estimate_from`` rows, else the exact count. A filtered or searched
    list, and every list on another database, is counted exactly."""

    estimate_from = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        connection = connections[self.object_list.db] if query is not None else None
        if (
            connection is None
            or connection.vendor != "postgresql"
            or query.where
            or query.distinct
            or query.is_sliced
            or query.combinator
        ):
            return super().count
        # The list is the whole table: the joins of select_related follow foreign keys
        # the database enforces, so they never drop a row. reltuples is -1 until the
        # table is first analysed.
        table = connection.ops.quote_name(query.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(_WHOLE_TABLE.format(table=table), [self.estimate_from, table])
            return int(cursor.fetchone()[0])
