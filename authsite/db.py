"""Database work that async code runs outside Django's request cycle.

Django gives a thread's connection back to the pool when a request finishes. The fast
lane answers without that cycle, so its rare ORM work (compiling its statements once,
counting a rate limit on a database cache) runs through ``in_thread``, which gives the
connection back itself: none stays checked out of Django's pool, and none broken by a
database restart is kept for the next call.
"""

import functools

from asgiref.sync import sync_to_async
from django.db import connection


def in_thread(function):
    """Return ``sync_to_async(function)`` that closes the thread's connection afterwards
    (a pooled one goes back to the pool), unless the thread is inside an atomic block."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return sync_to_async(run)
