"""Failures from outside the process: the database down or hanging, a server killed in
the middle of refresh rotations. Answers stay JSON (or the login error page), bounded
in time, with no traceback; nothing is left half-written."""

import asyncio
import json
import os
import signal
import socket

import httpx2
import psycopg
import pytest

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, Server


class _DownDatabase:
    """A DATABASE_URL whose server refuses connections (nothing listens there)."""

    def __init__(self, port):
        # a short connect timeout keeps the hanging case quick; the default is 5 s
        self.url = f"postgres://postgres@127.0.0.1:{port}/nowhere?connect_timeout=2"


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never says a word: a hung database."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def _assert_json_503(response):
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("which", ["refused", "hanging"])
def test_database_down_gives_bounded_json_503s(which, closed_port, silent_port, idp_server):
    port = closed_port if which == "refused" else silent_port
    server = Server(_DownDatabase(port), auth0_env(idp_server))
    try:
        # bounded: the client would give up after 20 s; the server answers well before
        cookies = {"sessionid": "x" * 32}
        with httpx2.Client(base_url=server.url, timeout=20, cookies=cookies) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            _assert_json_503(ready)
            assert ready.json()["status"] == "unavailable"
            _assert_json_503(http.get("/api/v1/auth/me"))
            refresh = http.post("/api/v1/auth/refresh", json={"refresh_token": "r" * 43})
            _assert_json_503(refresh)
    finally:
        server.stop()
    # operators get one line per failure, not a traceback per request
    assert "Traceback" not in server.output()
    assert "database unavailable" in server.output()


def _rotation_invariants(database_url):
    """Every refresh token is either spent with exactly one rotation child, or unspent
    with none; grace-path siblings have no parent and are unspent or rotated alike."""
    with psycopg.connect(database_url) as conn:
        half_done = conn.execute(
            """
            SELECT count(*) FROM accounts_refreshtoken t
            WHERE (t.used_at IS NOT NULL) <> EXISTS (
                SELECT 1 FROM accounts_refreshtoken c WHERE c.parent_id = t.id
            )
            AND NOT EXISTS (
                SELECT 1 FROM accounts_tokenfamily f
                WHERE f.id = t.family_id AND f.revoked_at IS NOT NULL
            )
            """
        ).fetchone()[0]
        spent = conn.execute(
            "SELECT count(*) FROM accounts_refreshtoken WHERE used_at IS NOT NULL"
        ).fetchone()[0]
    return half_done, spent


@pytest.mark.postgres
def test_a_server_killed_during_rotations_leaves_no_half_rotation(idp_server):
    database = E2EDatabase(f"authsite_kill_{os.getpid()}")
    try:
        tokens = json.loads(database.run_python("tests.e2e.seed", "pairs", "300"))
        server = Server(database, auth0_env(idp_server, RATE_LIMIT_TOKEN="100000/m"))

        async def storm():
            answered = 0
            enough = asyncio.Event()
            async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:

                async def one(token):
                    nonlocal answered
                    try:
                        await http.post("/api/v1/auth/refresh", json={"refresh_token": token})
                    except httpx2.HTTPError:
                        return  # the server died under us: that is the point
                    answered += 1
                    if answered == 30:
                        enough.set()

                async def kill_mid_storm():
                    await enough.wait()
                    os.kill(server.process.pid, signal.SIGKILL)

                await asyncio.gather(kill_mid_storm(), *(one(token) for token in tokens))

        asyncio.run(storm())
        server.stop()
        half_done, spent = _rotation_invariants(database.url)
        assert 30 <= spent < len(tokens)  # killed with rotations done and others in flight
        assert half_done == 0
    finally:
        database.drop()
