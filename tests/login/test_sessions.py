"""Sessions after login: CSRF on unsafe requests, logout, idle timeout, and refusal
of a deactivated user or organisation at the very next request."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import AuditEvent, AuditType, LoginSession, User
from organisations.models import Organisation
from tests.logins import browser_login

pytestmark = pytest.mark.django_db(transaction=True)
FRONTEND = "http://localhost:5173"


async def logged_in(browser):
    response = await browser_login(browser)
    assert response.status_code == 302
    return response.cookies["sessionid"].value


async def csrf_token(browser):
    return (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]


async def test_logout_without_csrf_token_is_refused(browser, idp):
    await logged_in(browser)
    response = await browser.post("/auth/logout", headers={"Origin": FRONTEND})
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert (await browser.get("/api/v1/auth/me")).status_code == 200


async def test_logout_from_an_origin_not_on_the_list_is_refused(browser, idp):
    await logged_in(browser)
    token = await csrf_token(browser)
    response = await browser.post(
        "/auth/logout", headers={"Origin": "https://evil.example", "X-CSRFToken": token}
    )
    assert response.status_code == 403
    assert (await browser.get("/api/v1/auth/me")).status_code == 200


async def test_logout_without_origin_is_refused(browser, idp):
    await logged_in(browser)
    token = await csrf_token(browser)
    response = await browser.post("/auth/logout", headers={"X-CSRFToken": token})
    assert response.status_code == 403


async def test_logout_ends_the_session_and_returns_the_provider_logout_url(browser, idp):
    session_key = await logged_in(browser)
    token = await csrf_token(browser)
    response = await browser.post(
        "/auth/logout", headers={"Origin": FRONTEND, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    url = response.json()["logout_url"]
    assert url.startswith(idp.issuer + "oidc/logout?")
    assert "client_id=test-client" in url
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A5173%2F" in url
    assert response.cookies["sessionid"]["max-age"] == 0
    assert response.cookies["refresh_token"]["max-age"] == 0
    assert response.cookies["refresh_token"]["path"] == "/api/v1/auth/"
    assert not await Session.objects.filter(session_key=session_key).aexists()
    assert not await LoginSession.objects.filter(session_key=session_key).aexists()
    assert await AuditEvent.objects.filter(type=AuditType.LOGOUT).aexists()
    assert (await browser.get("/api/v1/auth/me")).status_code == 401


async def test_a_stolen_session_cookie_is_useless_after_logout(browser, idp, new_browser):
    session_key = await logged_in(browser)
    token = await csrf_token(browser)
    await browser.post("/auth/logout", headers={"Origin": FRONTEND, "X-CSRFToken": token})
    thief = new_browser()
    thief.cookies["sessionid"] = session_key
    assert (await thief.get("/api/v1/auth/me")).status_code == 401


async def test_anonymous_logout_is_harmless(browser, idp):
    response = await browser.post("/auth/logout")
    assert response.status_code == 200
    assert "logout_url" in response.json()


async def test_deactivated_user_is_refused_at_the_next_request(browser, idp):
    await logged_in(browser)
    await User.objects.filter(email="alice@acme.example").aupdate(is_active=False)
    response = await browser.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


async def test_deactivated_organisation_is_refused_at_the_next_request(browser, idp):
    await logged_in(browser)
    await Organisation.objects.filter(auth0_org_id="org_acme").aupdate(is_active=False)
    assert (await browser.get("/api/v1/auth/me")).status_code == 401


async def test_deactivated_user_cannot_log_in_again(browser, idp):
    await logged_in(browser)
    await User.objects.filter(email="alice@acme.example").aupdate(is_active=False)
    response = await browser_login(browser)
    assert response.status_code == 400
    assert b"account_inactive" in response.content


async def test_idle_session_expires(browser, idp):
    session_key = await logged_in(browser)
    await Session.objects.filter(session_key=session_key).aupdate(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert (await browser.get("/api/v1/auth/me")).status_code == 401


async def test_activity_pushes_the_idle_expiry_forward(browser, idp, settings):
    session_key = await logged_in(browser)
    soon = timezone.now() + timedelta(seconds=30)
    await Session.objects.filter(session_key=session_key).aupdate(expire_date=soon)
    assert (await browser.get("/api/v1/auth/me")).status_code == 200
    session = await Session.objects.aget(session_key=session_key)
    assert session.expire_date > timezone.now() + timedelta(
        seconds=settings.SESSION_IDLE_TIMEOUT - 120
    )
