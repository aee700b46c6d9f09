"""Two server processes, one PostgreSQL database, one shared cache (Redis): whatever one
process does, the other sees at the next request."""

import base64
import json
import os
import time
from urllib.parse import urlencode

import httpx2
import pytest
import redis

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, Server

pytestmark = pytest.mark.postgres
FRONTEND = "http://localhost:5173"


def two_servers(database, redis_url, idp_server, **env):
    env = auth0_env(
        idp_server, CACHE_URL=redis_url, COOKIE_SAMESITE="Lax", COOKIE_SECURE="false", **env
    )
    return Server(database, env), Server(database, env)


@pytest.fixture(scope="module")
def database():
    database = E2EDatabase(f"authsite_pair_{os.getpid()}")
    yield database
    database.drop()


@pytest.fixture(scope="module")
def pair_of_servers(database, redis_url, idp_server):
    servers = two_servers(database, redis_url, idp_server, REFRESH_REUSE_GRACE="0")
    yield servers
    for server in servers:
        server.stop()
        server.assert_clean_log()


def login(http, sub="auth0|alice"):
    started = http.get("/auth/login")
    assert started.status_code == 302, started.text
    approved = http.get(started.headers["location"] + "&" + urlencode({"login_hint": sub}))
    return http.get(approved.headers["location"])


def token_pair(http):
    csrf = http.get("/api/v1/auth/csrf").json()["csrf_token"]
    response = http.post("/api/v1/auth/token", headers={"X-CSRFToken": csrf, "Origin": FRONTEND})
    assert response.status_code == 200, response.text
    return response.json()


def header_kid(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def test_log_in_through_one_call_me_through_the_other(pair_of_servers):
    first, second = pair_of_servers
    with httpx2.Client(base_url=first.url) as one:
        assert login(one).status_code == 302
        session = one.cookies["sessionid"]
        tokens = token_pair(one)
    with httpx2.Client(base_url=second.url, cookies={"sessionid": session}) as two:
        assert two.get("/api/v1/auth/me").json()["email"] == "alice@acme.example"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert two.get("/api/v1/auth/me", headers=bearer).status_code == 200


def test_rotate_on_one_replay_on_the_other(pair_of_servers):
    first, second = pair_of_servers
    with httpx2.Client(base_url=first.url) as one:
        login(one)
        tokens = token_pair(one)
    with httpx2.Client(base_url=first.url) as a, httpx2.Client(base_url=second.url) as b:
        rotated = a.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200
        replay = b.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401
        assert replay.json()["error"] == "token_reused"
        # the whole family is revoked: the legitimate holder's new token fails on either
        new = rotated.json()["refresh_token"]
        assert a.post("/api/v1/auth/refresh", json={"refresh_token": new}).status_code == 401


def test_signing_key_rotation_is_seen_by_both(pair_of_servers, database, redis_url):
    first, second = pair_of_servers
    with httpx2.Client(base_url=first.url) as one, httpx2.Client(base_url=second.url) as two:
        login(one)
        old = token_pair(one)
        # the operator's command runs with the servers' configuration, shared cache included
        database.run_manage("rotate_signing_key", env={"CACHE_URL": redis_url})
        time.sleep(1.1)  # a process reuses the key snapshot it read for up to a second
        login(two)
        new = token_pair(two)
        assert header_kid(new["access_token"]) != header_kid(old["access_token"])
        for server_client in (one, two):
            kids = {
                key["kid"] for key in server_client.get("/.well-known/jwks.json").json()["keys"]
            }
            assert {header_kid(old["access_token"]), header_kid(new["access_token"])} <= kids
            for pair in (old, new):
                bearer = {"Authorization": f"Bearer {pair['access_token']}"}
                assert server_client.get("/api/v1/auth/me", headers=bearer).status_code == 200


def test_rate_limits_are_counted_across_both(database, redis_url, idp_server):
    redis.Redis.from_url(redis_url).flushdb()  # earlier tests' logins counted too
    servers = two_servers(database, redis_url, idp_server, RATE_LIMIT_LOGIN="4/h")
    try:
        with (
            httpx2.Client(base_url=servers[0].url) as a,
            httpx2.Client(base_url=servers[1].url) as b,
        ):
            statuses = [client.get("/auth/login").status_code for client in (a, b, a, b, a, b)]
    finally:
        for server in servers:
            server.stop()
    # four per hour from this address, whichever server answers
    assert statuses == [302, 302, 302, 302, 429, 429]
