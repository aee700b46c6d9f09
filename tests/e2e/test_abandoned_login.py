"""A browser that goes away while its login is being written leaves no session behind:
the server lets the write finish, then ends the session it started."""

import asyncio
import time
from urllib.parse import urlencode

import httpx2
import psycopg
import pytest

pytestmark = pytest.mark.postgres

SLOW_INSERT = """
CREATE FUNCTION slow_login_record() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER slow_login_record BEFORE INSERT ON accounts_loginsession
FOR EACH ROW EXECUTE FUNCTION slow_login_record();
"""
FAST_INSERT = """
DROP TRIGGER slow_login_record ON accounts_loginsession;
DROP FUNCTION slow_login_record();
"""


def _rows(database, sql: str, params=()) -> list:
    with psycopg.connect(database.url.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(sql, params).fetchall()


def _execute(database, sql: str) -> None:
    with psycopg.connect(
        database.url.replace("postgres://", "postgresql://", 1), autocommit=True
    ) as conn:
        conn.execute(sql)


async def _abandon_callback(server) -> None:
    """Start a login, approve it, then send the callback and go away after 0.3 s."""
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
        started = await http.get("/auth/login")
        approved = await http.get(
            started.headers["location"] + "&" + urlencode({"login_hint": "auth0|alice"})
        )
        with pytest.raises(httpx2.TimeoutException):
            await http.get(approved.headers["location"], timeout=0.3)


ALICE = "SELECT id FROM accounts_user WHERE email = 'alice@acme.example'"


def _alice_counts(database) -> tuple[int, int]:
    """Return alice's LOGIN_SUCCEEDED events and session records."""
    return _rows(
        database,
        f"SELECT (SELECT count(*) FROM accounts_auditevent WHERE type = 'login_succeeded' "
        f"AND user_id IN ({ALICE})), "
        f"(SELECT count(*) FROM accounts_loginsession WHERE user_id IN ({ALICE}))",
    )[0]


def test_a_login_abandoned_while_it_is_written_leaves_no_session(live, e2e_database):
    sessions_before = _rows(e2e_database, "SELECT count(*) FROM django_session")[0][0]
    events_before, records_before = _alice_counts(e2e_database)
    _execute(e2e_database, SLOW_INSERT)
    try:
        asyncio.run(_abandon_callback(live))
        deadline = time.monotonic() + 10
        counts = _alice_counts(e2e_database)
        # The login is written (its event exists), then its session is ended.
        while time.monotonic() < deadline and counts != (events_before + 1, records_before):
            time.sleep(0.2)
            counts = _alice_counts(e2e_database)
    finally:
        _execute(e2e_database, FAST_INSERT)
    assert counts == (events_before + 1, records_before)
    assert _rows(e2e_database, "SELECT count(*) FROM django_session")[0][0] == sessions_before
