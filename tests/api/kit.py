"""Helpers shared by the fast lane's tests."""

from asgiref.sync import sync_to_async
from django.db import connection


@sync_to_async
def cut_the_lane_s_connections() -> int:
    """What a database restart does to the lane's pooled connections; how many it cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s",
            ["%fast lane"],
        )
        return cursor.fetchone()[0]
