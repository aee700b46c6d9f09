"""/api/v1/auth/sessions: a person sees their own sign-ins (browser sessions and token
families) and ends them; an ended one is refused at its very next request, on every
path, the fast lane's included. Someone else's sessions are never listed and never
ended, and asking for them answers exactly as for a session that does not exist."""

import uuid
from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import keys, ratelimit, tokens
from accounts.api import SESSION_SEEN_KEY
from accounts.fastlane import FastLane
from accounts.models import AuditEvent, AuditType, LoginSession, RefreshToken, TokenFamily, User
from accounts.upsert import RequestMeta
from accounts.useragent import summarise
from tests.api.kit import amember
from tests.idp import ALICE, BOB
from tests.logins import authorize, path_of
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/api/v1/auth/sessions"
FRONTEND = "http://localhost:5173"
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
PASSED_ON = 599


async def signed_in(new_browser, sub=ALICE, user_agent=CHROME_ON_LINUX):
    """A browser that enforces CSRF, after a whole login through the provider, which it
    made (and goes on making its requests) with that User-Agent."""
    browser = new_browser(enforce_csrf_checks=True)
    browser.user_agent = {"User-Agent": user_agent}
    started = await browser.get("/auth/login", headers=browser.user_agent)
    callback = await authorize(started["Location"], sub)
    response = await browser.get(path_of(callback), headers=browser.user_agent)
    assert response.status_code == 302, response.content
    return browser


async def unsafe(browser, method, path, **kwargs):
    """``method`` on ``path`` from the web app: its CSRF token and Origin."""
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    headers = {"Origin": FRONTEND, "X-CSRFToken": csrf, **browser.user_agent}
    return await browser.generic(method, path, headers=headers, **kwargs)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def token_pair(user, user_agent="python-httpx/0.28.1", ip="198.51.100.7") -> dict:
    """A new family of its own (born from no browser session) and its first pair."""
    return await tokens.aissue_token_pair(
        user, issuer="http://testserver", meta=RequestMeta(ip=ip, user_agent=user_agent)
    )


def family_of(pair: dict) -> str:
    return tokens.unverified_claims(pair["access_token"])["fam"]


async def listed(client, **kwargs) -> list[dict]:
    response = await client.get(SESSIONS, **kwargs)
    assert response.status_code == 200, response.content
    return response.json()["sessions"]


async def me_status(client, **kwargs) -> int:
    return (await client.get("/api/v1/auth/me", **kwargs)).status_code


async def refresh(client, refresh_token: str):
    return await client.post(
        "/api/v1/auth/refresh", {"refresh_token": refresh_token}, content_type="application/json"
    )


async def alice() -> User:
    return await User.objects.aget(email="alice@acme.example")


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


# --- what is recorded, and when it moves -----------------------------------------------


async def test_the_client_s_address_and_user_agent_are_kept_cut_to_length(new_browser, idp):
    long_agent = "Agent/1.0 " + "x" * 2000
    browser = await signed_in(new_browser, user_agent=long_agent)
    await unsafe(browser, "POST", "/api/v1/auth/token")
    login = await LoginSession.objects.aget()
    family = await TokenFamily.objects.aget()
    limit = LoginSession._meta.get_field("user_agent").max_length
    assert login.user_agent == family.user_agent == long_agent[:limit]
    assert login.ip == family.ip == "127.0.0.1"


async def test_a_browser_session_s_last_use_moves_at_most_once_a_minute(new_browser, idp):
    browser = await signed_in(new_browser)
    await me_status(browser)
    login = await LoginSession.objects.aget()
    first = login.last_used_at

    await me_status(browser)
    assert (await LoginSession.objects.aget()).last_used_at == first

    @sync_to_async
    def a_minute_passes():
        session = SessionStore(login.session_key)
        session[SESSION_SEEN_KEY] -= 61
        session.save()

    await a_minute_passes()
    await me_status(browser)
    moved = (await LoginSession.objects.aget()).last_used_at
    assert moved > first
    [row] = await listed(browser)
    assert abs(parse_datetime(row["last_used_at"]) - moved) < timedelta(milliseconds=1)


async def test_a_family_s_last_use_moves_at_each_rotation_through_django(async_client, settings):
    settings.FAST_LANE = False
    pair = await token_pair(await amember())
    [before] = await listed(async_client, headers=bearer(pair["access_token"]))

    rotated = await refresh(async_client, pair["refresh_token"])

    assert rotated.status_code == 200
    [after] = await listed(async_client, headers=bearer(rotated.json()["access_token"]))
    assert after["id"] == before["id"]
    assert parse_datetime(after["last_used_at"]) > parse_datetime(before["last_used_at"])
    assert after["created_at"] == before["created_at"]


# --- the fast lane -----------------------------------------------------------------------


async def _stand_in(scope, receive, send):
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": b"passed on"})


@pytest.fixture
async def lane():
    """The lane in front of a stand-in that answers 599: a 599 proves the lane passed the
    request on. The signing key is loaded first, as Django's path does."""
    await keys.asigner()
    fast_lane = FastLane(_stand_in)
    yield fast_lane
    await fast_lane.close()


async def _through(app, method, path, **kwargs):
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path, **kwargs)


@pytest.mark.postgres
async def test_the_fast_lane_refuses_an_ended_family_at_its_next_request(lane, async_client):
    user = await amember()
    mine, lost = await token_pair(user), await token_pair(user)
    lost_me = {"headers": bearer(lost["access_token"])}
    lost_refresh = {"json": {"refresh_token": lost["refresh_token"]}}
    assert (await _through(lane, "GET", "/api/v1/auth/me", **lost_me)).status_code == 200

    ended = await async_client.delete(
        f"{SESSIONS}/token-{family_of(lost)}", headers=bearer(mine["access_token"])
    )

    assert ended.status_code == 204
    assert (await _through(lane, "GET", "/api/v1/auth/me", **lost_me)).status_code == PASSED_ON
    assert (await _through(lane, "POST", "/api/v1/auth/refresh", **lost_refresh)).status_code == (
        PASSED_ON
    )
    # and the whole application, lane in front, refuses both
    assert await me_status(async_client, **lost_me) == 401
    assert (await refresh(async_client, lost["refresh_token"])).status_code == 401


@pytest.mark.postgres
async def test_a_family_s_last_use_moves_at_each_rotation_through_the_fast_lane(lane, async_client):
    pair = await token_pair(await amember())
    [before] = await listed(async_client, headers=bearer(pair["access_token"]))

    rotated = await _through(
        lane, "POST", "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )

    assert rotated.status_code == 200  # the lane answered: its rotation, not Django's
    [after] = await listed(async_client, headers=bearer(rotated.json()["access_token"]))
    assert after["id"] == before["id"]
    assert parse_datetime(after["last_used_at"]) > parse_datetime(before["last_used_at"])


# --- the user agent, for a person --------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "summary"),
    [
        (CHROME_ON_LINUX, "Chrome on Linux"),
        (FIREFOX_ON_WINDOWS, "Firefox on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        ("curl/8.11.1", "curl"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
        ("", "Unknown client"),
        ("!!!", "Unknown client"),
    ],
)
def test_the_user_agent_is_summarised_for_a_person(header, summary):
    assert summarise(header) == summary
