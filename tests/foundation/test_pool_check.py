"""The pool's check at checkout (authsite.pool): a connection the server ended is
refused, a healthy one is lent without a round trip."""

import psycopg
import pytest
from django.db import connection

from authsite.pool import check_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _connect():
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def test_a_healthy_connection_passes_without_a_round_trip():
    with _connect() as conn, _connect() as admin:
        conn.execute("SELECT 'before the check'")
        check_connection(conn)
        # The server's record of the connection's last statement: a check that sent one
        # (psycopg_pool's empty query) would have replaced it.
        [(last,)] = admin.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [conn.info.backend_pid]
        ).fetchall()
        assert last == "SELECT 'before the check'"
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_connection_the_server_ended_is_refused():
    with _connect() as conn, _connect() as admin:
        pid = conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The server's goodbye reaches the socket a moment after it acts.
        admin.execute("SELECT pg_sleep(0.2)")
        with pytest.raises(psycopg.OperationalError):
            check_connection(conn)


def test_a_closed_connection_is_refused():
    conn = _connect()
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        check_connection(conn)
