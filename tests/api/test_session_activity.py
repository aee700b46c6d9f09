"""/api/v1/auth/sessions, what is kept and when it moves: the client's address and user
agent of each sign-in, cut to length; a browser session's last use, written at most
once a minute; a family's, at each rotation through Django and through the fast lane,
which also refuses an ended family at its next request. And the user agent as a person
reads it."""

from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.utils.dateparse import parse_datetime

from accounts import keys
from accounts.api.authentication import SESSION_SEEN_KEY
from accounts.models import LoginSession, TokenFamily
from accounts.useragent import summarise
from authsite.fastlane.app import FastLane
from tests.api.kit import amember
from tests.api.sessionkit import (
    CHROME_ON_LINUX,
    FIREFOX_ON_WINDOWS,
    SESSIONS,
    bearer,
    family_of,
    listed,
    me_status,
    refresh,
    signed_in,
    token_pair,
    unsafe,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSED_ON = 599


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
