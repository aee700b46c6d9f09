"""Forwarded headers under the real server: uvicorn, started the way the project starts it
(tests/e2e/servers.py), with no trusted proxy configured (TRUSTED_PROXIES empty).

The project decides whom to believe (TRUSTED_PROXIES, accounts/middleware.py); the ASGI
server in front must not decide first. uvicorn, left to its defaults, believes
X-Forwarded-For and X-Forwarded-Proto from 127.0.0.1 and rewrites the client's address
and scheme before the application sees them. A client on the same host (or anything that
reaches the server through a local hop) could then write any address into the audit
trail, dodge the per-address rate limits and pass for HTTPS. These tests send such
headers from 127.0.0.1 and check what is recorded and answered."""

import sqlite3
import uuid

import httpx2
import psycopg
import pytest

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import Server

FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
LOGIN_LIMIT = 3


@pytest.fixture(scope="module")
def server(e2e_database, idp_server):
    server = Server(
        e2e_database,
        auth0_env(idp_server, TRUSTED_PROXIES="", RATE_LIMIT_LOGIN=f"{LOGIN_LIMIT}/h"),
    )
    yield server
    server.stop()
    server.assert_clean_log()


def _audited(database, user_agent: str) -> list[tuple[str, str]]:
    """(type, ip) of the audit events written for requests with this User-Agent."""
    query = "SELECT type, ip FROM accounts_auditevent WHERE user_agent = %s ORDER BY id"
    if database.url.startswith(("postgres://", "postgresql://")):
        with psycopg.connect(database.url) as conn:
            rows = conn.execute(query, [user_agent]).fetchall()
    else:
        with sqlite3.connect(database.url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(query.replace("%s", "?"), [user_agent]).fetchall()
    return [(kind, str(ip)) for kind, ip in rows]


def test_the_audit_trail_records_the_peer_not_a_forwarded_address(server, e2e_database):
    """A failed login callback is audited with the client's address; the forged headers
    change neither that address nor the scheme (no HSTS on a plain-HTTP answer)."""
    user_agent = f"forwarded-headers-test/{uuid.uuid4().hex}"
    answer = httpx2.get(
        f"{server.url}/auth/callback",
        params={"state": "bogus"},
        headers={**FORGED, "User-Agent": user_agent},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text  # the login error page: invalid_state
    assert _audited(e2e_database, user_agent) == [("login_failed", "127.0.0.1")]
    assert "strict-transport-security" not in answer.headers  # plain HTTP, not HTTPS


def test_a_forwarded_address_does_not_reset_the_per_address_login_limit(server):
    """RATE_LIMIT_LOGIN counts per client address: a client that names a new address in
    every request is still one client."""
    statuses = []
    with httpx2.Client(base_url=server.url, timeout=10) as http:
        for index in range(LOGIN_LIMIT + 3):
            forged = {**FORGED, "X-Forwarded-For": f"203.0.113.{index + 1}"}
            statuses.append(http.get("/auth/login", headers=forged).status_code)
    # Other tests of this module may have counted against 127.0.0.1 already: at most the
    # limit's worth of logins start, and the rest are refused.
    assert statuses.count(302) <= LOGIN_LIMIT, statuses
    assert statuses[-3:] == [429, 429, 429], statuses
