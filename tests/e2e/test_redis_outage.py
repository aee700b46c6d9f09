"""Redis (the shared cache: login state, signing-key snapshot, rate limits) stopped and
started again under a running server: the real application under uvicorn
(tests/e2e/servers.py) with CACHE_URL on a redis-server of its own.

While Redis is down, the token endpoint answers 503 JSON ``service_unavailable`` and a
login start the 503 error page: an outage, not a bug. Once Redis is back on the same
port, the very first requests succeed: connections the server pooled before the restart
are dead, and must not turn into 500s ("Connection closed by server"). Neither case
leaves a traceback in the server's log."""

import json
import os

import httpx2
import pytest

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, Server
from tests.redis_server import RedisServer

REFRESH = "/api/v1/auth/refresh"


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database():
    database = E2EDatabase(f"authsite_redis_outage_{os.getpid()}")
    yield database
    database.drop()


@pytest.fixture(scope="module")
def refresh_tokens(database):
    """Refresh tokens of seeded people, each to be spent once."""
    return iter(json.loads(database.run_python("tests.e2e.seed", "pairs", "20")))


@pytest.fixture(scope="module")
def server(database, idp_server, redis_server):
    server = Server(database, auth0_env(idp_server, CACHE_URL=redis_server.url))
    yield server
    server.stop()


@pytest.fixture
def http(server, redis_server):
    """A client of the server; Redis is running again afterwards, whatever the test did."""
    with httpx2.Client(base_url=server.url, timeout=20) as client:
        yield client
    redis_server.start()


@pytest.fixture
def log_of_this_test(server):
    """The part of the server's log written during the test."""
    start = len(server.output())
    return lambda: server.output()[start:]


def _refresh(http, token) -> httpx2.Response:
    return http.post(REFRESH, json={"refresh_token": token})


def _assert_refresh_works(http, refresh_tokens):
    refreshed = _refresh(http, next(refresh_tokens))
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["token_type"] == "Bearer"


def _assert_login_starts(http):
    started = http.get("/auth/login")
    assert started.status_code == 302, started.text


def _assert_works(http, refresh_tokens):
    """A refresh and a login start, which between them use both Redis clients (the
    cache's, and the rate limits' on the event loop)."""
    _assert_refresh_works(http, refresh_tokens)
    _assert_login_starts(http)


def _assert_no_traceback(log: str):
    for marker in ("Traceback", "Internal Server Error", "SynchronousOnlyOperation"):
        assert marker not in log, log


def test_with_redis_down_refresh_is_a_json_503_and_login_the_503_page(
    http, redis_server, refresh_tokens, log_of_this_test
):
    _assert_works(http, refresh_tokens)
    redis_server.stop()

    refreshed = _refresh(http, next(refresh_tokens))
    assert refreshed.status_code == 503, refreshed.text
    assert refreshed.headers["content-type"] == "application/json"
    assert refreshed.json()["error"] == "service_unavailable"

    started = http.get("/auth/login")
    assert started.status_code == 503, started.text
    assert started.headers["content-type"].startswith("text/html")

    _assert_no_traceback(log_of_this_test())


@pytest.mark.parametrize("first", ["login start", "refresh"])
def test_after_redis_restarts_the_first_requests_succeed(
    first, http, redis_server, refresh_tokens, log_of_this_test
):
    # Connections into the pools of both Redis clients, then a restart kills them.
    _assert_works(http, refresh_tokens)
    redis_server.restart()

    if first == "login start":
        _assert_login_starts(http)
        _assert_refresh_works(http, refresh_tokens)
    else:
        _assert_refresh_works(http, refresh_tokens)
        _assert_login_starts(http)
    _assert_works(http, refresh_tokens)

    _assert_no_traceback(log_of_this_test())
