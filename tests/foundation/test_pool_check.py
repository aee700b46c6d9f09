"""The pool's check at checkout (authsite.pool): a connection the server ended is
refused, a healthy one is lent."""

import psycopg
import pytest
from django.db import connection

from authsite.pool import check_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _connect():
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def test_a_healthy_connection_passes():
    with _connect() as conn:
        check_connection(conn)
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
