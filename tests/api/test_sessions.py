"""/api/v1/auth/sessions: a person sees their own sign-ins (browser sessions and token
families) and ends them; an ended one is refused at its very next request. Someone
else's sessions are never listed and never ended, and asking for them answers exactly
as for a session that does not exist. (What is recorded, when it moves, and the fast
lane: test_session_activity.py.)"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import ratelimit
from accounts.models import AuditEvent, AuditType, LoginSession, RefreshToken, TokenFamily, User
from tests.api.kit import amember
from tests.api.sessionkit import (
    CHROME_ON_LINUX,
    FIREFOX_ON_WINDOWS,
    FRONTEND,
    SESSIONS,
    alice,
    bearer,
    family_of,
    listed,
    me_status,
    refresh,
    signed_in,
    token_pair,
    unsafe,
)
from tests.idp import ALICE, BOB
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


# --- who may ask, and what they see ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", SESSIONS), ("DELETE", SESSIONS), ("DELETE", f"{SESSIONS}/browser-1")],
)
async def test_anonymous_callers_are_refused(async_client, method, path):
    response = await async_client.generic(method, path)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


async def test_a_browser_sees_each_sign_in_and_which_one_is_its_own(new_browser, idp):
    linux = await signed_in(new_browser, user_agent=CHROME_ON_LINUX)
    windows = await signed_in(new_browser, user_agent=FIREFOX_ON_WINDOWS)

    rows = await listed(linux)

    assert [row["kind"] for row in rows] == ["browser", "browser"]
    assert {row["user_agent"] for row in rows} == {"Chrome on Linux", "Firefox on Windows"}
    [own] = [row for row in rows if row["current"]]
    assert own["user_agent"] == "Chrome on Linux"
    for row in rows:
        assert set(row) == {
            "id",
            "kind",
            "created_at",
            "last_used_at",
            "ip",
            "user_agent",
            "current",
        }
        assert row["id"].startswith("browser-")
        assert row["ip"] == "127.0.0.1"
        assert parse_datetime(row["last_used_at"]) >= parse_datetime(row["created_at"])
    # The other browser sees the same two, the other one marked as its own.
    [theirs] = [row for row in await listed(windows) if row["current"]]
    assert theirs["id"] != own["id"] and theirs["user_agent"] == "Firefox on Windows"
    # The session key, the cookie's value, is never shown.
    session_keys = [key async for key in LoginSession.objects.values_list("session_key", flat=True)]
    assert not any(key in str(rows) for key in session_keys)


async def test_a_bearer_caller_s_own_family_is_current(async_client):
    user = await amember()
    first = await token_pair(user, user_agent="curl/8.11.1", ip="203.0.113.5")
    second = await token_pair(user)

    rows = await listed(async_client, headers=bearer(first["access_token"]))

    assert {row["id"] for row in rows} == {
        f"token-{family_of(first)}",
        f"token-{family_of(second)}",
    }
    [current] = [row for row in rows if row["current"]]
    assert current["id"] == f"token-{family_of(first)}"
    assert (current["kind"], current["ip"], current["user_agent"]) == (
        "token",
        "203.0.113.5",
        "curl",
    )


async def test_a_family_born_from_a_browser_session_is_listed_with_it(
    new_browser, idp, async_client
):
    browser = await signed_in(new_browser)
    pair = (await unsafe(browser, "POST", "/api/v1/auth/token")).json()

    from_cookie = await listed(browser)
    from_token = await listed(async_client, headers=bearer(pair["access_token"]))

    assert len(from_cookie) == 1 and from_cookie[0]["kind"] == "browser"
    # The same sign-in, whichever of its credentials asks.
    assert from_token == from_cookie and from_token[0]["current"]


async def test_ended_expired_and_spent_out_families_are_not_listed(async_client):
    user = await amember()
    caller = await token_pair(user)
    revoked, expired, spent = [await token_pair(user) for _ in range(3)]
    await TokenFamily.objects.filter(pk=family_of(revoked)).aupdate(revoked_at=timezone.now())
    await RefreshToken.objects.filter(family_id=family_of(expired)).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    await RefreshToken.objects.filter(family_id=family_of(spent)).aupdate(used_at=timezone.now())

    rows = await listed(async_client, headers=bearer(caller["access_token"]))

    assert [row["id"] for row in rows] == [f"token-{family_of(caller)}"]


async def test_an_expired_browser_session_is_not_listed(new_browser, idp, async_client):
    browser = await signed_in(new_browser)
    pair = await token_pair(await alice())
    await Session.objects.aupdate(expire_date=timezone.now() - timedelta(seconds=1))

    rows = await listed(async_client, headers=bearer(pair["access_token"]))

    assert [row["kind"] for row in rows] == ["token"]
    assert await me_status(browser) == 401


async def test_an_identity_provider_token_sees_the_sessions_and_none_is_current(
    new_browser, idp, async_client, settings
):
    await signed_in(new_browser)
    settings.AUTH0_AUDIENCE = "https://api.example"
    now = int(timezone.now().timestamp())
    provider_token = idp.sign(
        {
            "iss": idp.issuer,
            "sub": ALICE,
            "aud": "https://api.example",
            "azp": "test-client",
            "iat": now,
            "exp": now + 600,
        }
    )

    rows = await listed(async_client, headers=bearer(provider_token))

    assert [(row["kind"], row["current"]) for row in rows] == [("browser", False)]


async def test_someone_else_s_sessions_are_never_listed(new_browser, idp):
    alice_browser = await signed_in(new_browser, sub=ALICE)
    await signed_in(new_browser, sub=BOB)
    await token_pair(await User.objects.aget(email="bob@example.com"))

    rows = await listed(alice_browser)

    assert len(rows) == 1 and rows[0]["current"]


# --- ending one ------------------------------------------------------------------------


async def test_ending_another_browser_refuses_it_and_its_tokens_at_the_next_request(
    new_browser, idp, async_client
):
    mine = await signed_in(new_browser, user_agent=CHROME_ON_LINUX)
    lost = await signed_in(new_browser, user_agent=FIREFOX_ON_WINDOWS)
    lost_pair = (await unsafe(lost, "POST", "/api/v1/auth/token")).json()
    [lost_row] = [row for row in await listed(mine) if not row["current"]]

    response = await unsafe(mine, "DELETE", f"{SESSIONS}/{lost_row['id']}")

    assert response.status_code == 204
    assert await me_status(lost) == 401
    assert await me_status(async_client, headers=bearer(lost_pair["access_token"])) == 401
    assert (await refresh(async_client, lost_pair["refresh_token"])).status_code == 401
    assert await me_status(mine) == 200
    assert [row["current"] for row in await listed(mine)] == [True]
    event = await AuditEvent.objects.aget(type=AuditType.SESSION_ENDED)
    assert event.details == {"session": lost_row["id"], "kind": "browser", "by": "owner"}
    assert event.user_agent == CHROME_ON_LINUX  # who ended it, not what was ended


async def test_ending_a_family_refuses_its_tokens_at_the_next_request(async_client):
    user = await amember()
    mine, lost = await token_pair(user), await token_pair(user)
    assert await me_status(async_client, headers=bearer(lost["access_token"])) == 200

    response = await async_client.delete(
        f"{SESSIONS}/token-{family_of(lost)}", headers=bearer(mine["access_token"])
    )

    assert response.status_code == 204
    assert await me_status(async_client, headers=bearer(lost["access_token"])) == 401
    refused = await refresh(async_client, lost["refresh_token"])
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    assert await me_status(async_client, headers=bearer(mine["access_token"])) == 200
    assert (await refresh(async_client, mine["refresh_token"])).status_code == 200


async def test_ending_one_s_own_browser_session_logs_it_out(new_browser, idp):
    browser = await signed_in(new_browser)
    await unsafe(browser, "POST", "/api/v1/auth/token")
    [own] = await listed(browser)

    response = await unsafe(browser, "DELETE", f"{SESSIONS}/{own['id']}")

    assert response.status_code == 204
    assert response.cookies["refresh_token"]["max-age"] == 0
    assert await me_status(browser) == 401
    assert not await LoginSession.objects.aexists()
    assert not await TokenFamily.objects.filter(revoked_at__isnull=True).aexists()


async def test_another_person_s_session_is_a_404_like_one_that_does_not_exist(
    new_browser, idp, async_client
):
    mallory = await token_pair(await amember())
    alice_browser = await signed_in(new_browser, sub=ALICE)
    alice_pair = await token_pair(await alice())
    [alice_row] = [row for row in await listed(alice_browser) if row["kind"] == "browser"]

    theirs = [alice_row["id"], f"token-{family_of(alice_pair)}"]
    unknown = ["browser-999999", f"token-{uuid.uuid4()}"]
    answers = [
        await async_client.delete(
            f"{SESSIONS}/{session_id}", headers=bearer(mallory["access_token"])
        )
        for session_id in theirs + unknown
    ]

    assert {answer.status_code for answer in answers} == {404}
    assert len({answer.content for answer in answers}) == 1
    assert answers[0].json()["error"] == "not_found"
    assert await me_status(alice_browser) == 200
    assert await me_status(async_client, headers=bearer(alice_pair["access_token"])) == 200


@pytest.mark.parametrize(
    "session_id",
    [
        "browser-99999999999999999999999999",
        "browser--1",
        "browser-1.5",
        "token-not-a-uuid",
        "token-",
        "session",
        "%00",
        "x" * 2000,
    ],
)
async def test_a_malformed_id_is_a_404(async_client, session_id):
    pair = await token_pair(await amember())
    response = await async_client.delete(
        f"{SESSIONS}/{session_id}", headers=bearer(pair["access_token"])
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- ending all the others -------------------------------------------------------------


async def test_ending_all_others_keeps_only_the_current_browser(new_browser, idp, async_client):
    mine = await signed_in(new_browser)
    other = await signed_in(new_browser, user_agent=FIREFOX_ON_WINDOWS)
    pairs = [await token_pair(await alice()) for _ in range(2)]
    own_pair = (await unsafe(mine, "POST", "/api/v1/auth/token")).json()

    response = await unsafe(mine, "DELETE", SESSIONS)

    assert response.status_code == 200 and response.json() == {"ended": 3}
    assert await me_status(other) == 401
    for pair in pairs:
        assert await me_status(async_client, headers=bearer(pair["access_token"])) == 401
    # The current sign-in keeps its tokens too.
    assert await me_status(mine) == 200
    assert await me_status(async_client, headers=bearer(own_pair["access_token"])) == 200
    assert await AuditEvent.objects.filter(type=AuditType.SESSION_ENDED).acount() == 3
    assert (await unsafe(mine, "DELETE", SESSIONS)).json() == {"ended": 0}


async def test_ending_all_others_keeps_the_current_family(new_browser, idp, async_client):
    browser = await signed_in(new_browser)
    mine = await token_pair(await alice())

    response = await async_client.delete(SESSIONS, headers=bearer(mine["access_token"]))

    assert response.json() == {"ended": 1}
    assert await me_status(browser) == 401
    assert await me_status(async_client, headers=bearer(mine["access_token"])) == 200


# --- CSRF, rate limit, outage ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": FRONTEND}],
    ids=["nothing", "hostile origin", "no csrf token"],
)
async def test_ending_with_the_cookie_needs_the_csrf_token_and_a_trusted_origin(
    new_browser, idp, headers
):
    mine = await signed_in(new_browser)
    other = await signed_in(new_browser, user_agent=FIREFOX_ON_WINDOWS)
    [other_row] = [row for row in await listed(mine) if not row["current"]]
    csrf = (await mine.get("/api/v1/auth/csrf")).json()["csrf_token"]
    if headers.get("Origin") == "https://evil.example":
        headers = {**headers, "X-CSRFToken": csrf}

    for path in (SESSIONS, f"{SESSIONS}/{other_row['id']}"):
        response = await mine.delete(path, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
    assert await me_status(other) == 200


async def test_ending_is_rate_limited_per_user(async_client, settings):
    settings.RATE_LIMIT_TOKEN = "2/h"
    pair = await token_pair(await amember())
    statuses = [
        (await async_client.delete(path, headers=bearer(pair["access_token"]))).status_code
        for path in (f"{SESSIONS}/browser-1", SESSIONS, f"{SESSIONS}/browser-1")
    ]
    assert statuses == [404, 200, 429]
    limited = await async_client.delete(SESSIONS, headers=bearer(pair["access_token"]))
    assert limited.json()["error"] == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert (
        await async_client.get(SESSIONS, headers=bearer(pair["access_token"]))
    ).status_code == 200


@pytest.fixture
async def redis_server(settings):
    """The default cache on a Redis of the test's own, which the test may stop."""
    server = RedisServer()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": f"sessions-{uuid.uuid4().hex}",
        }
    }
    yield server
    server.stop()
    await ratelimit.aclose()


async def test_ending_while_the_shared_cache_is_down_is_a_json_503_and_ends_nothing(
    async_client, redis_server
):
    user = await amember()
    mine, other = await token_pair(user), await token_pair(user)
    redis_server.stop()

    response = await async_client.delete(SESSIONS, headers=bearer(mine["access_token"]))

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    ended = TokenFamily.objects.filter(pk=family_of(other), revoked_at__isnull=False)
    assert not await ended.aexists()


@pytest.fixture
async def a_pair(transactional_db):
    """A token pair of a new member, made while the database still answers."""
    return await token_pair(await amember())


@pytest.mark.postgres
async def test_the_session_endpoints_answer_a_json_503_while_the_database_is_down(
    async_client, a_pair, database_down
):
    for method, path in [("GET", SESSIONS), ("DELETE", SESSIONS), ("DELETE", f"{SESSIONS}/x")]:
        response = await async_client.generic(method, path, headers=bearer(a_pair["access_token"]))
        assert response.status_code == 503, response.content
        assert response.json()["error"] == "service_unavailable"
