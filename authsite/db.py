"""The threads the project's async code runs its database work in.

Django's async ORM sends each call to a thread of the request's own (asgiref's
thread-sensitive mode): one new thread per request, whose connection stays checked out
until the request finishes and is given back in one more hop. The project's async code
instead runs its database work through ``in_thread``: a fixed set of threads, each call
giving its connection back when it returns (to the pool, when there is one). A request
whose database work all went that way holds no connection when it finishes, so the
handler (authsite/handler.py) finishes it without a hop.
"""

import asyncio
import contextvars
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.backends.signals import connection_created

# As many threads as Django's pool lends connections (at least a few without a pool).
_POOL = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
_executor = ThreadPoolExecutor(
    max_workers=max(4, _POOL.get("max_size", 4)), thread_name_prefix="db"
)
_own_thread = threading.local()

# The connections a request opened in Django's thread-sensitive hops (a set shared by
# the request's contexts); None outside a request.
_opened: contextvars.ContextVar[set | None] = contextvars.ContextVar("opened", default=None)


def in_thread(function):
    """Return an async ``function`` run in the project's database threads, or in the
    request's own thread (Django's thread-sensitive hop) when that thread already holds a
    connection or ASYNC_DB_THREADS is off. Afterwards the thread's connection goes back
    to the pool (or is closed when it is unusable or past CONN_MAX_AGE, as Django does at
    a request's end), unless an atomic block is open."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        _own_thread.active = True
        try:
            return function(*args, **kwargs)
        finally:
            _own_thread.active = False
            if not connection.in_atomic_block:
                if _POOL or not settings.ASYNC_DB_THREADS:
                    connection.close()
                else:
                    connection.close_if_unusable_or_obsolete()

    in_request_thread = sync_to_async(run)
    if not settings.ASYNC_DB_THREADS:
        return in_request_thread

    @functools.wraps(function)
    async def call(*args, **kwargs):
        # A request whose own thread holds a connection (Django's thread-sensitive code
        # read its session, say) uses that one: waiting for a second connection while
        # holding the first would let a burst of such requests exhaust the pool.
        if _opened.get():
            return await in_request_thread(*args, **kwargs)
        work = functools.partial(contextvars.copy_context().run, run, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_executor, work)

    return call


def thread_cache():
    """Return the default cache as this thread keeps it. Django makes a cache backend per
    request context (a client with it); the project's threads, which serve every
    request, keep one each for their whole life. With ASYNC_DB_THREADS off, return
    Django's."""
    if not settings.ASYNC_DB_THREADS:
        return caches["default"]
    backend = getattr(_own_thread, "cache", None)
    if backend is None:
        backend = _own_thread.cache = caches.create_connection("default")
    return backend


def track_request() -> None:
    """Start counting the connections this request's thread-sensitive hops open."""
    _opened.set(set())


def request_opened_connections() -> bool:
    """Return whether a thread-sensitive hop of this request opened a database
    connection, which only a hop into that thread can give back."""
    opened = _opened.get()
    return opened is None or bool(opened)


def _note_connection(sender, connection, **kwargs):
    opened = _opened.get()
    if opened is not None and not getattr(_own_thread, "active", False):
        opened.add(connection.alias)


connection_created.connect(_note_connection, dispatch_uid="authsite.db.note_connection")


def _call_cache(method: str, *args):
    return getattr(thread_cache(), method)(*args)


acache = in_thread(_call_cache)
acache.__doc__ = """Return the default cache's ``method`` called with ``args``, in one hop to
the project's database threads (``thread_cache``), not to a thread of the request's own
as Django's async cache methods go: ``await acache("get", key)``."""
