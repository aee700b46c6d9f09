"""Security rule: the log never holds a token, a code, a cookie or a secret.

Real flows run against the development identity provider over HTTP while every record,
at every level, is written as LOG_FORMAT=json writes it: a browser login, its session's
calls, tokens minted and refreshed from the cookie, the token handoff and its
redemption, refreshes by body, a reuse that revokes a family, Bearer calls (through the
fast lane on PostgreSQL), a login the provider fails, a revocation, a logout. Then the
whole log is searched for every value that was issued along the way."""

import json
import logging
import secrets
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from accounts.tokens.handoff import s256
from tests.idp import ALICE, BOB, MALLORY
from tests.logins import authorize, path_of, query

pytestmark = pytest.mark.django_db(transaction=True)

FRONTEND = "http://localhost:5173"
REQUIRED_KEYS = {"time", "level", "logger", "message", "request_id"}


class Issued:
    """Every secret value the flows saw issued, each with what it was."""

    def __init__(self):
        self.values: dict[str, str] = {}

    def add(self, what: str, value) -> None:
        if isinstance(value, str) and value:
            self.values[value] = what

    def cookies(self, response) -> None:
        for name, morsel in response.cookies.items():
            self.add(f"the {name} cookie", morsel.value)

    def tokens(self, body: dict) -> None:
        for key in ("access_token", "refresh_token", "id_token"):
            self.add(key, body.get(key))

    def provider_answers(self, provider) -> None:
        for answer in provider.answered:
            try:
                body = json.loads(answer)
            except ValueError:
                continue
            if isinstance(body, dict):
                for key in ("access_token", "id_token", "refresh_token"):
                    self.add(f"the provider's {key}", body.get(key))


@contextmanager
def _browser_side():
    """Keep the browser's own HTTP client (its request to the provider, whose answer
    carries the code) out of the log: the log under test is the server's."""
    loggers = [logging.getLogger(name) for name in ("httpx2", "httpcore2")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def _login(client, issued: Issued, sub: str, **params):
    """Log ``client`` in as ``sub``; keep the login's cookies, state and authorization
    code; return the callback's answer."""
    started = await client.get("/auth/login", params)
    assert started.status_code == 302, started.content
    issued.cookies(started)
    with _browser_side():
        callback = await authorize(started["Location"], sub)
    issued.add("the authorization code", query(callback).get("code"))
    issued.add("the login's state", query(callback).get("state"))
    done = await client.get(path_of(callback))
    issued.cookies(done)
    return done


def _unsafe(csrf_token: str) -> dict:
    return {"X-CSRFToken": csrf_token, "Origin": FRONTEND}


async def test_no_token_code_cookie_or_secret_reaches_the_log(
    browser, new_browser, recording_idp, json_log, settings
):
    settings.REFRESH_REUSE_GRACE = 0
    issued = Issued()
    issued.add("the client secret", recording_idp.client_secret)
    issued.add("SECRET_KEY", settings.SECRET_KEY)
    issued.add("SIGNING_KEY_ENCRYPTION_KEY", settings.SIGNING_KEY_ENCRYPTION_KEY)

    # A browser login, and what its session does.
    assert (await _login(browser, issued, ALICE, next="/reports")).status_code == 302
    csrf = await browser.get("/api/v1/auth/csrf")
    issued.cookies(csrf)
    csrf_token = csrf.json()["csrf_token"]
    issued.add("the CSRF token", csrf_token)
    assert (await browser.get("/api/v1/auth/me")).status_code == 200
    minted = await browser.post("/api/v1/auth/token", headers=_unsafe(csrf_token))
    assert minted.status_code == 200
    issued.tokens(minted.json())
    issued.cookies(minted)
    renewed = await browser.post("/api/v1/auth/refresh", headers=_unsafe(csrf_token))
    assert renewed.status_code == 200
    issued.tokens(renewed.json())
    issued.cookies(renewed)
    bearer = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert (await new_browser().get("/api/v1/auth/me", headers=bearer)).status_code == 200

    # The token handoff of a cross-site web app, then refreshes by body.
    verifier = secrets.token_urlsafe(48)
    issued.add("the handoff verifier", verifier)
    handed = await _login(
        new_browser(),
        issued,
        BOB,
        next=f"{FRONTEND}/app",
        mode="token",
        handoff_challenge=s256(verifier),
    )
    login_code = urlsplit(handed["Location"]).fragment.removeprefix("login_code=")
    issued.add("the login code", login_code)
    app = new_browser()
    pair = await app.post(
        "/api/v1/auth/token",
        {"login_code": login_code, "handoff_verifier": verifier},
        content_type="application/json",
    )
    assert pair.status_code == 200
    issued.tokens(pair.json())
    spent = pair.json()["refresh_token"]
    second = await app.post(
        "/api/v1/auth/refresh", {"refresh_token": spent}, content_type="application/json"
    )
    assert second.status_code == 200
    issued.tokens(second.json())
    third = await app.post(
        "/api/v1/auth/refresh",
        {"refresh_token": second.json()["refresh_token"]},
        content_type="application/json",
    )
    issued.tokens(third.json())
    reused = await app.post(
        "/api/v1/auth/refresh", {"refresh_token": spent}, content_type="application/json"
    )
    assert reused.json()["error"] == "token_reused"
    bearer = {"Authorization": f"Bearer {third.json()['access_token']}"}
    assert (await app.get("/api/v1/auth/me", headers=bearer)).status_code == 401
    revoked = await app.post(
        "/api/v1/auth/revoke",
        {"refresh_token": third.json()["refresh_token"]},
        content_type="application/json",
    )
    assert revoked.status_code == 200

    # A login the provider fails: its reason is logged, its code is not.
    recording_idp.fail("token", "500")
    failed = await _login(new_browser(), issued, MALLORY)
    assert failed.status_code == 502
    recording_idp.heal()

    logout = await browser.post("/auth/logout", headers=_unsafe(csrf_token))
    assert logout.status_code == 200
    issued.provider_answers(recording_idp)

    log = json_log.getvalue()
    records = [json.loads(line) for line in log.splitlines()]
    for record in records:
        assert set(record) >= REQUIRED_KEYS, record
    assert any(
        record["level"] == "WARNING" and "login callback failed" in record["message"]
        for record in records
    ), log
    assert any(record["request_id"] for record in records), log
    assert {"the authorization code", "the login code", "access_token", "refresh_token"} <= set(
        issued.values.values()
    )
    assert any(what.startswith("the provider's") for what in issued.values.values())
    found = sorted({what for value, what in issued.values.items() if value in log})
    assert found == [], log
