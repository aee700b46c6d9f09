"""The change lists' paginator: a count that does not read the whole table
(docs/architecture.md, "At scale")."""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """A paginator that takes the count of an unfiltered list of a large PostgreSQL table
    from the planner's estimate (``pg_class.reltuples``, kept by ANALYZE and autovacuum)
    instead of ``COUNT(*)``, which reads every row. A filtered or searched list, a table
    estimated under ``estimate_from`` rows, and every list on another database are
    counted exactly."""

    estimate_from = 100_000

    @cached_property
    def count(self) -> int:
        estimate = self.estimate()
        if estimate is not None and estimate >= self.estimate_from:
            return estimate
        return super().count

    def estimate(self) -> int | None:
        """Return the planner's row estimate of the listed table when the list is the
        whole table, else None. The joins of ``select_related`` follow foreign keys the
        database enforces, so they never drop a row."""
        query = getattr(self.object_list, "query", None)
        if query is None or query.where or query.distinct or query.is_sliced or query.combinator:
            return None
        connection = connections[self.object_list.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                [connection.ops.quote_name(query.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # -1: never analysed.
        return int(row[0]) if row and row[0] >= 0 else None
