"""The check Django's connection pool makes of each connection before lending it."""

import select

from psycopg_pool import ConnectionPool


def check_connection(conn) -> None:
    """Raise if the pooled connection ``conn`` is broken; return quietly otherwise.

    A round trip checks it only when its socket has something to read: a connection the
    server ended (a restart, ``pg_terminate_backend``) has the server's last message or
    the end of the stream waiting, while an idle healthy one has nothing to read."""
    if not conn.closed:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if not poller.poll(0):
            return
    ConnectionPool.check_connection(conn)
