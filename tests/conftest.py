import os
import shutil
import subprocess
import time
import uuid

import pytest
import redis
from django.db import connection

from tests.e2e.servers import free_port

pytest_plugins = ["tests.idp"]


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass must really run on PostgreSQL: fail the run (never skip) when
    REQUIRE_POSTGRES is set and the configured database is something else."""
    if os.environ.get("REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        raise pytest.UsageError(
            f"REQUIRE_POSTGRES is set but DATABASE_URL points at {connection.vendor}; "
            "the PostgreSQL tests cannot run."
        )


@pytest.fixture(autouse=True)
def _postgres_marker(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.fail("This test needs PostgreSQL; run it through `make test-postgres`.")


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache, and with no signing keys, verified tokens or
    provider metadata remembered in this process: the keys of an earlier test's (flushed)
    database must not sign or verify, nor an earlier provider's keys verify."""
    from django.core.cache import cache

    from accounts import keys
    from accounts.login.oidc import metadata
    from accounts.tokens import access

    cache.clear()
    metadata._memo.clear()
    keys.clear_caches()
    with access._verified_lock:
        access._verified.clear()
    yield


@pytest.fixture(autouse=True)
def _default_tools(request):
    """Transactional tests flush every table afterwards, the data migration's tools
    included; put them back the way the migration creates them."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    import importlib

    from django.apps import apps

    importlib.import_module("organisations.migrations.0002_default_tools").create_tools(apps, None)


@pytest.fixture(scope="session", autouse=True)
def _close_async_connections(django_db_setup):
    """Async views reach the database from asgiref's single sync thread, whose
    connection the test client never closes; close it so PostgreSQL's test database
    can be dropped at the end."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def client(new_client):
    """pytest-django's client; on PostgreSQL, through the real ASGI application."""
    return new_client()


@pytest.fixture
def new_client():
    """Make another client of the ``client`` kind (``new_client(enforce_csrf_checks=True)``
    for one that checks CSRF): tests.asgi_client.sync_client_class."""
    from tests.asgi_client import sync_client_class

    return sync_client_class()


@pytest.fixture
def browser(request):
    """A test client that enforces CSRF like a browser-facing server must (Django's
    test client skips the CSRF check unless asked); on PostgreSQL, through the real ASGI
    application."""
    return _async_client_class(request)(enforce_csrf_checks=True)


@pytest.fixture
def async_client(request):
    """pytest-django's async client; on PostgreSQL, through the real ASGI application."""
    return _async_client_class(request)()


@pytest.fixture
def new_browser(request):
    """Make another browser of the ``async_client`` kind: its own cookies, no CSRF bypass
    needed (the tests that want one take ``async_client``)."""
    return _async_client_class(request)


def _async_client_class(request):
    """Django's AsyncClient on SQLite; on PostgreSQL, one that sends its requests
    through authsite.asgi.application, fast lane included (tests/asgi_client.py)."""
    if connection.vendor != "postgresql":
        from django.test import AsyncClient

        return AsyncClient
    from tests.asgi_client import ASGIClient

    request.getfixturevalue("_asgi_application")
    return ASGIClient


@pytest.fixture
async def _asgi_application(django_db_setup):
    """Close the fast lane's pool and Redis client after the test, on its loop: a pool
    left open there would outlive the lane's next pool, which the sync client opens on a
    loop of its own, and hold its connections until the end."""
    from authsite.asgi import application

    yield
    await application.close()


@pytest.fixture(scope="session")
def redis_url():
    """Redis on 127.0.0.1:6379 when it runs, else a throwaway redis-server."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("These tests need Redis: none runs and redis-server is missing.")
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(host="127.0.0.1", port=port).ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
        process.terminate()
        process.wait()
        return
    # One database number per run, emptied first, so that runs do not share counters.
    index = 1 + os.getpid() % 15
    redis.Redis(host="127.0.0.1", port=6379, db=index).flushdb()
    yield f"redis://127.0.0.1:6379/{index}"


@pytest.fixture
async def redis_cache(settings, redis_url):
    """The default cache on Redis, as production runs it, with a prefix of its own."""
    from accounts import ratelimit

    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"ratelimit-test-{uuid.uuid4().hex}",
        }
    }
    yield
    await ratelimit.aclose()
