"""The ASGI test client (tests/asgi_client.py): on PostgreSQL, the ``browser`` and
``async_client`` fixtures send their requests through ``authsite.asgi.application``,
fast lane in front. Django's ``request_started`` signal tells who answered: it does
not fire for a request the lane answers, and its sender is Django's ASGI handler for
one that went through the application (the test handler's for the CSRF bypass)."""

from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.signals import request_started

from authsite.handler import ASGIHandler
from tests.api.kit import amember
from tests.asgi_client import ASGIClient, ASGIClientHandler
from tests.tokens.kit import aissue_token_pair

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FRONTEND = "http://localhost:5173"


@contextmanager
def _django_answers():
    """Record the sender of every request Django starts to answer; yield the list."""
    senders = []

    def record(sender, **kwargs):
        senders.append(sender)

    request_started.connect(record)
    try:
        yield senders
    finally:
        request_started.disconnect(record)


async def test_the_fixtures_are_asgi_clients(browser, async_client):
    assert isinstance(browser, ASGIClient) and browser.handler.enforce_csrf_checks
    assert isinstance(async_client, ASGIClient) and not async_client.handler.enforce_csrf_checks


async def test_a_bearer_me_is_answered_by_the_lane_other_paths_by_django(async_client):
    user = await amember()
    pair = await aissue_token_pair(user, issuer="http://testserver")
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    with _django_answers() as senders:
        me = await async_client.get("/api/v1/auth/me", headers=bearer)
    assert me.status_code == 200 and me.json()["id"] == user.pk
    assert me["Content-Type"] == "application/json"
    assert senders == []
    with _django_answers() as senders:
        features = await async_client.get("/api/v1/features", headers=bearer)
    assert features.status_code == 200
    assert senders == [ASGIHandler]


async def test_the_web_app_s_cookie_refresh_is_answered_by_the_lane(browser):
    await browser.aforce_login(await amember())
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    headers = {"Origin": FRONTEND, "X-CSRFToken": csrf}
    issued = await browser.post("/api/v1/auth/token", headers=headers)
    assert issued.status_code == 200
    assert browser.cookies["refresh_token"].value == issued.json()["refresh_token"]
    for _ in range(2):  # the second spends the cookie the first left in the jar
        with _django_answers() as senders:
            refreshed = await browser.post("/api/v1/auth/refresh", headers=headers)
        assert refreshed.status_code == 200 and senders == []
        token = refreshed.json()["refresh_token"]
        assert refreshed.cookies["refresh_token"].value == token
        assert refreshed.cookies["refresh_token"]["path"] == "/api/v1/auth/"
        assert browser.cookies["refresh_token"].value == token


async def test_set_cookie_headers_become_the_response_s_cookies(browser, settings):
    settings.COOKIE_PARTITIONED = True
    response = await browser.get("/api/v1/auth/csrf")
    csrf = response.cookies["csrftoken"]
    assert csrf["httponly"] is True and csrf["secure"] is True and csrf["samesite"] == "None"
    assert csrf.OutputString().endswith("; Partitioned")
    assert browser.cookies["csrftoken"].value == csrf.value
    await browser.aforce_login(await amember())
    headers = {"Origin": FRONTEND, "X-CSRFToken": response.json()["csrf_token"]}
    with _django_answers() as senders:
        logout = await browser.post("/auth/logout", headers=headers)
    assert logout.status_code == 200 and senders == [ASGIHandler]
    assert logout.cookies["sessionid"]["max-age"] == 0
    assert logout.cookies["sessionid"]["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert browser.cookies["sessionid"].value == ""


async def test_only_requests_that_need_the_csrf_bypass_skip_the_application(browser, async_client):
    user = await amember()
    for client in (browser, async_client):
        await client.aforce_login(user)
    with _django_answers() as senders:
        refused = await browser.post("/auth/logout", headers={"Origin": FRONTEND})
        bypassed = await async_client.post("/auth/logout", headers={"Origin": FRONTEND})
        cookieless = await ASGIClient().post("/auth/logout")
        # A view that never checks CSRF: through the application, cookies or not.
        backchannel = await async_client.post("/auth/backchannel-logout", {"logout_token": "x"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    assert bypassed.status_code == 200 and cookieless.status_code == 200
    assert backchannel.status_code == 400
    assert senders == [ASGIHandler, ASGIClientHandler, ASGIHandler, ASGIHandler]


async def test_static_files_come_streamed(async_client):
    response = await async_client.get("/static/admin/css/base.css")
    assert response.status_code == 200 and response.streaming
    assert (
        b"".join(response.streaming_content)
        == Path(finders.find("admin/css/base.css")).read_bytes()
    )
    assert response["Content-Type"].startswith("text/css")


async def test_redirects_can_be_followed_and_head_answers_have_no_body(async_client):
    redirected = await async_client.get("/admin/")
    assert redirected.status_code == 302 and redirected.url == redirected["Location"]
    followed = await async_client.get("/admin/", follow=True)
    assert followed.status_code == 200 and followed.redirect_chain
    head = await async_client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


async def test_static_files_carry_the_security_headers_of_every_answer(async_client):
    page = await async_client.get("/healthz")
    static = await async_client.get("/static/admin/css/base.css")
    assert static.status_code == 200
    for header in (
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "X-Frame-Options",
        "Content-Security-Policy",
    ):
        assert static.get(header) == page.get(header) is not None, header
    missing = await async_client.get("/static/admin/css/no-such-file.css")
    assert missing.status_code == 404
    assert missing["X-Content-Type-Options"] == "nosniff"
