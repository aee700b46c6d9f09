"""OIDC Back-Channel Logout: a valid logout token ends the sessions of its `sid` (or of
its `sub`) and revokes their token families; every malformed or replayed token is a
400 and ends nothing."""

import time

import pytest
from django.contrib.sessions.models import Session

from accounts.models import AuditEvent, AuditType, LoginSession
from tests.logins import browser_login

pytestmark = pytest.mark.django_db(transaction=True)
EVENTS = {"http://schemas.openid.net/event/backchannel-logout": {}}


async def login_as(client, idp, sub="auth0|alice"):
    response = await browser_login(client, sub=sub)
    assert response.status_code == 302
    return response.cookies["sessionid"].value, idp.logins[-1]["sid"]


async def post(async_client, token):
    return await async_client.post("/auth/backchannel-logout", {"logout_token": token})


async def test_logout_by_sid_ends_only_that_session(async_client, idp, new_browser):
    first_key, first_sid = await login_as(async_client, idp)
    other_browser = new_browser()
    second_key, _ = await login_as(other_browser, idp)
    response = await post(async_client, idp.logout_token(sid=first_sid))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert not await Session.objects.filter(session_key=first_key).aexists()
    assert await Session.objects.filter(session_key=second_key).aexists()
    assert (await async_client.get("/api/v1/auth/me")).status_code == 401
    assert (await other_browser.get("/api/v1/auth/me")).status_code == 200
    event = await AuditEvent.objects.aget(type=AuditType.BACKCHANNEL_LOGOUT)
    assert event.details["sessions_ended"] == 1


async def test_logout_by_sub_ends_every_session_of_that_identity(async_client, idp, new_browser):
    await login_as(async_client, idp)
    other_browser = new_browser()
    await login_as(other_browser, idp)
    bob = new_browser()
    await login_as(bob, idp, sub="auth0|bob")
    response = await post(async_client, idp.logout_token(sub="auth0|alice"))
    assert response.status_code == 200
    assert (await async_client.get("/api/v1/auth/me")).status_code == 401
    assert (await other_browser.get("/api/v1/auth/me")).status_code == 401
    assert (await bob.get("/api/v1/auth/me")).status_code == 200
    assert await LoginSession.objects.acount() == 1


async def test_logout_revokes_the_token_families_born_from_the_session(browser, idp, new_browser):
    await login_as(browser, idp)
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    pair = await browser.post(
        "/api/v1/auth/token", headers={"X-CSRFToken": csrf, "Origin": "http://localhost:5173"}
    )
    assert pair.status_code == 200, pair.content
    tokens = pair.json()
    await post(browser, idp.logout_token(sub="auth0|alice"))
    bearer = await browser.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert bearer.status_code == 401
    refreshed = await new_browser().post(
        "/api/v1/auth/refresh",
        {"refresh_token": tokens["refresh_token"]},
        content_type="application/json",
    )
    assert refreshed.status_code == 401


REJECTIONS = {
    "wrong_typ": lambda idp, sid: idp.logout_token(sid=sid, header={"typ": "JWT"}),
    "no_typ": lambda idp, sid: idp.logout_token(sid=sid, header={"typ": None}),
    "no_events": lambda idp, sid: idp.logout_token(sid=sid, events=None),
    "wrong_event": lambda idp, sid: idp.logout_token(sid=sid, events={"other": {}}),
    "nonce": lambda idp, sid: idp.logout_token(sid=sid, nonce="n"),
    "wrong_iss": lambda idp, sid: idp.logout_token(sid=sid, iss="https://evil.example/"),
    "wrong_aud": lambda idp, sid: idp.logout_token(sid=sid, audience="other-client"),
    "stale_iat": lambda idp, sid: idp.logout_token(sid=sid, iat=int(time.time()) - 3600),
    "future_iat": lambda idp, sid: idp.logout_token(sid=sid, iat=int(time.time()) + 3600),
    "no_iat": lambda idp, sid: idp.logout_token(sid=sid, iat=None),
    "no_jti": lambda idp, sid: idp.logout_token(sid=sid, jti=None),
    "no_sub_no_sid": lambda idp, sid: idp.logout_token(),
    "expired": lambda idp, sid: idp.logout_token(sid=sid, exp=int(time.time()) - 600),
    "foreign_key": lambda idp, sid: idp.logout_token(sid=sid, key=idp.foreign_key()),
    "alg_none": lambda idp, sid: idp.unsigned(
        {
            "iss": idp.issuer,
            "aud": "test-client",
            "iat": int(time.time()),
            "jti": "j",
            "sid": sid,
            "events": EVENTS,
        }
    ),
    "garbage": lambda idp, sid: "not.a.jwt",
    "empty": lambda idp, sid: "",
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
async def test_invalid_logout_token_is_refused_and_ends_nothing(async_client, idp, case):
    session_key, sid = await login_as(async_client, idp)
    response = await post(async_client, REJECTIONS[case](idp, sid))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert await Session.objects.filter(session_key=session_key).aexists()
    assert (await async_client.get("/api/v1/auth/me")).status_code == 200


async def test_replayed_logout_token_is_refused(async_client, idp):
    _, sid = await login_as(async_client, idp)
    token = idp.logout_token(sid=sid)
    assert (await post(async_client, token)).status_code == 200
    replay = await post(async_client, token)
    assert replay.status_code == 400
    assert "already used" in replay.json()["detail"]


async def test_get_is_not_allowed(async_client, idp):
    assert (await async_client.get("/auth/backchannel-logout")).status_code == 405
