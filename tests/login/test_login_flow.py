"""The login as a browser lives it: redirect, provider, callback, session."""

import asyncio

import pytest
from django.contrib.sessions.models import Session

from accounts.models import AuditEvent, AuditType, ExternalIdentity, LoginSession, User
from organisations.models import Organisation, OrganisationToolAccess, UserApplicationAccess
from tests.logins import authorize, browser_login, path_of, query, start

pytestmark = pytest.mark.django_db(transaction=True)


async def test_login_redirects_to_provider_with_pkce_state_and_nonce(async_client, idp):
    response = await start(async_client, next="/reports")
    url = response["Location"]
    assert url.startswith(idp.issuer + "authorize?")
    params = query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == "test-client"
    assert params["redirect_uri"] == "http://testserver/auth/callback"
    assert params["scope"] == "openid profile email"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43
    assert "audience" not in params
    binding = response.cookies["auth_flow"]
    assert binding["httponly"] and binding["path"] == "/auth/"


async def test_audience_organization_and_invitation_are_passed_through(async_client, idp, settings):
    settings.AUTH0_AUDIENCE = "https://api.example"
    response = await start(async_client, organization="org_acme", invitation="inv_1")
    params = query(response["Location"])
    assert params["audience"] == "https://api.example"
    assert params["organization"] == "org_acme"
    assert params["invitation"] == "inv_1"


async def test_first_login_creates_user_identity_organisation_access_and_session(async_client, idp):
    response = await browser_login(async_client, next="/reports")
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:5173/reports"
    user = await User.objects.select_related("organisation").aget(email="alice@acme.example")
    assert user.email_verified and user.name
    assert user.organisation.auth0_org_id == "org_acme"
    assert user.organisation.name == "Acme Analytics"
    assert not user.has_usable_password()
    assert await ExternalIdentity.objects.filter(user=user, issuer=idp.issuer).acount() == 1
    tools = await OrganisationToolAccess.objects.filter(organisation=user.organisation).acount()
    assert tools == 3
    assert await UserApplicationAccess.objects.filter(user=user).acount() == 3
    session_key = response.cookies["sessionid"].value
    assert await Session.objects.filter(session_key=session_key).aexists()
    assert await LoginSession.objects.filter(session_key=session_key, user=user).aexists()
    assert await AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED, user=user).aexists()
    me = await async_client.get("/api/v1/auth/me")
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "alice@acme.example"
    assert body["organisation"]["name"] == "Acme Analytics"
    assert {app["code"] for app in body["applications"]} == {
        "market_edge",
        "causal_edge",
        "value_edge",
    }


async def test_login_starts_a_new_session_key(async_client, idp):
    await async_client.get("/api/v1/auth/csrf")
    async_client.cookies["sessionid"] = "attacker-chosen-session-key-0000000000"
    response = await browser_login(async_client)
    assert response.cookies["sessionid"].value != "attacker-chosen-session-key-0000000000"


async def test_several_logins_in_flight_in_one_browser_all_work(async_client, idp):
    first = await start(async_client, next="/one")
    second = await start(async_client, next="/two")
    callback_one = await authorize(first["Location"], "auth0|alice")
    callback_two = await authorize(second["Location"], "auth0|alice")
    done_two = await async_client.get(path_of(callback_two))
    done_one = await async_client.get(path_of(callback_one))
    assert done_two["Location"].endswith("/two")
    assert done_one["Location"].endswith("/one")


async def test_replayed_state_is_refused(async_client, idp):
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    assert (await async_client.get(path_of(callback))).status_code == 302
    replay = await async_client.get(path_of(callback))
    assert replay.status_code == 400
    assert b"invalid_state" in replay.content
    assert "sessionid" not in replay.cookies


async def test_replayed_code_is_refused(async_client, idp):
    """A code the provider already redeemed, presented with a fresh state."""
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    assert (await async_client.get(path_of(callback))).status_code == 302
    second = await start(async_client)
    code = query(callback)["code"]
    state = query(second["Location"])["state"]
    replay = await async_client.get("/auth/callback", {"code": code, "state": state})
    assert replay.status_code == 400
    assert b"invalid_grant" in replay.content


async def test_state_from_another_browser_is_refused(async_client, idp, new_browser):
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    other_browser = new_browser()
    response = await other_browser.get(path_of(callback))
    assert response.status_code == 400
    assert b"invalid_state" in response.content
    assert not await User.objects.filter(email="alice@acme.example").aexists()


async def test_missing_state_is_refused(async_client, idp):
    response = await async_client.get("/auth/callback", {"code": "abc"})
    assert response.status_code == 400
    assert b"invalid_state" in response.content


async def test_provider_error_is_reported(async_client, idp):
    started = await start(async_client)
    state = query(started["Location"])["state"]
    response = await async_client.get(
        "/auth/callback", {"state": state, "error": "access_denied", "error_description": "no"}
    )
    assert response.status_code == 400
    assert b"access_denied" in response.content


async def test_login_error_url_receives_the_code(async_client, idp, settings):
    settings.LOGIN_ERROR_URL = "http://localhost:5173/login-failed"
    response = await async_client.get("/auth/callback", {"code": "abc", "state": "nope"})
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:5173/login-failed?error=invalid_state"


async def test_failed_login_is_audited_with_its_reason(async_client, idp):
    await async_client.get("/auth/callback", {"code": "abc", "state": "nope"})
    event = await AuditEvent.objects.aget(type=AuditType.LOGIN_FAILED)
    assert event.details["reason"] == "invalid_state"


async def test_org_id_mismatch_is_refused_and_audited(async_client, idp):
    idp.add_user("auth0|olga", email="olga@globex.example", org_id="org_globex", org_name="Globex")
    started = await start(async_client, organization="org_acme")
    # The provider is honest; a misbehaving or confused one answers for another org:
    idp.id_token_hook = lambda claims, header: {**claims, "org_id": "org_globex"}
    callback = await authorize(started["Location"], "auth0|alice")
    response = await async_client.get(path_of(callback))
    assert response.status_code == 400
    assert b"organisation_mismatch" in response.content
    assert await AuditEvent.objects.filter(type=AuditType.ORGANISATION_MISMATCH).aexists()
    assert not await User.objects.filter(email="alice@acme.example").aexists()


async def test_organization_required_refuses_tokens_without_org(async_client, idp, settings):
    settings.AUTH0_ORGANIZATION_REQUIRED = True
    response = await browser_login(async_client, sub="auth0|bob")
    assert response.status_code == 400
    assert b"organisation_required" in response.content
    assert not await User.objects.filter(email="bob@example.com").aexists()


async def test_logins_of_one_new_person_complete_concurrently(async_client, idp):
    """Ten tabs of one browser finish the first login at once: all succeed, one user."""
    starts = [await start(async_client) for _ in range(10)]
    callbacks = [await authorize(s["Location"], "auth0|bob") for s in starts]
    results = await asyncio.gather(*(async_client.get(path_of(c)) for c in callbacks))
    assert [r.status_code for r in results] == [302] * 10
    assert await User.objects.filter(email="bob@example.com").acount() == 1
    assert await Organisation.objects.filter(slug__startswith="personal-").acount() == 1


async def test_strict_cookies_survive_the_cross_site_return_from_the_provider(
    async_client, idp, settings, new_browser
):
    """SameSite=Strict: the provider's redirect arrives without our cookies; the callback
    re-opens itself from our own site, and that same-site arrival logs in."""
    settings.COOKIE_SAMESITE = "Strict"
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    # what the browser sends on the cross-site redirect: no Strict cookie
    cookieless = new_browser()
    bounced = await cookieless.get(path_of(callback), headers={"Sec-Fetch-Site": "cross-site"})
    assert bounced.status_code == 200
    assert b'http-equiv="refresh"' in bounced.content
    assert not await User.objects.aexists()
    # the re-opened URL is a same-site navigation: the browser sends the cookies now
    done = await async_client.get(path_of(callback), headers={"Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 302
    assert "sessionid" in done.cookies


async def test_logging_in_again_ends_the_old_session_and_its_token_families(browser, idp):
    from accounts.models import TokenFamily

    first = await browser_login(browser)
    old_key = first.cookies["sessionid"].value
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    minted = await browser.post(
        "/api/v1/auth/token", headers={"X-CSRFToken": csrf, "Origin": "http://localhost:5173"}
    )
    assert minted.status_code == 200
    second = await browser_login(browser)
    assert second.cookies["sessionid"].value != old_key
    assert not await Session.objects.filter(session_key=old_key).aexists()
    family = await TokenFamily.objects.aget(session_key=old_key)
    assert family.revoked_at is not None


async def test_token_mode_puts_the_login_code_in_the_fragment_only(async_client, idp, new_browser):
    import base64
    import hashlib

    verifier = "v" * 64
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    response = await browser_login(
        async_client, next="/app?tab=1", mode="token", handoff_challenge=challenge
    )
    assert response.status_code == 302
    landing = response["Location"]
    before, _, fragment = landing.partition("#")
    assert before == "http://localhost:5173/app?tab=1"
    assert "login_code" not in before
    assert fragment.startswith("login_code=")
    code = fragment.removeprefix("login_code=")
    pair = await new_browser().post(
        "/api/v1/auth/token",
        {"login_code": code, "handoff_verifier": verifier},
        content_type="application/json",
    )
    assert pair.status_code == 200
    assert pair.json()["token_type"] == "Bearer"


async def test_token_mode_without_a_valid_challenge_is_refused(async_client, idp):
    response = await async_client.get("/auth/login", {"mode": "token", "handoff_challenge": "x"})
    assert response.status_code == 400
    assert b"invalid_request" in response.content


async def test_role_and_staff_claims_in_the_id_token_change_nothing(async_client, idp):
    idp.id_token_hook = lambda claims, header: {
        **claims,
        "role": "super_admin",
        "is_staff": True,
        "is_superuser": True,
        "https://example.com/roles": ["super_admin"],
    }
    assert (await browser_login(async_client)).status_code == 302
    user = await User.objects.aget(email="alice@acme.example")
    assert (user.role, user.is_staff, user.is_superuser) == ("viewer", False, False)


async def test_provider_error_text_is_escaped_on_the_error_page(async_client, idp):
    started = await start(async_client)
    state = query(started["Location"])["state"]
    response = await async_client.get(
        "/auth/callback",
        {"state": state, "error": "access_denied", "error_description": "<script>x()</script>"},
    )
    assert response.status_code == 400
    assert b"<script>x()</script>" not in response.content
    assert b"&lt;script&gt;" in response.content
