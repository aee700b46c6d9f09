"""The fast lane (authsite/fastlane/) gives its answers the request's id as Django's path
does, and every answer it leaves to Django carries that same id, once."""

import re

import httpx2
import pytest

from accounts import keys
from authsite.asgi import application
from authsite.fastlane.app import FastLane
from tests.api.kit import amember, arefresh_token
from tests.tokens.kit import aissue_token_pair

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MADE = re.compile("[0-9a-f]{32}")
PASSED_ON = 599
PROXY = ("10.1.2.3", 40000)


async def _stand_in(scope, receive, send):
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": b"passed on"})


@pytest.fixture
async def lane():
    """The lane in front of a stand-in, the signing key loaded as Django's path loads it
    for a process's first token (the lane reads none from the database)."""
    await keys.asigner()
    fast_lane = FastLane(_stand_in)
    yield fast_lane
    await fast_lane.close()


async def _call(app, method, path, *, client=("127.0.0.1", 50000), **kwargs):
    transport = httpx2.ASGITransport(app=app, client=client)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path, **kwargs)


async def _bearer():
    user = await amember()
    pair = await aissue_token_pair(user, issuer="http://testserver")
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_the_lane_s_answers_carry_a_new_id_or_a_trusted_proxy_s(lane, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    bearer = await _bearer()
    answers = [
        await _call(lane, "GET", "/api/v1/auth/me", headers=bearer),
        await _call(lane, "GET", "/api/v1/auth/me", headers=bearer),
    ]
    assert [answer.status_code for answer in answers] == [200, 200]
    identifiers = [answer.headers["x-request-id"] for answer in answers]
    assert all(MADE.fullmatch(identifier) for identifier in identifiers)
    assert identifiers[0] != identifiers[1]
    from_proxy = await _call(
        lane, "GET", "/api/v1/auth/me", client=PROXY, headers={**bearer, "X-Request-ID": "lb-9"}
    )
    assert from_proxy.status_code == 200
    assert from_proxy.headers.get_list("x-request-id") == ["lb-9"]
    chosen = await _call(lane, "GET", "/api/v1/auth/me", headers={**bearer, "X-Request-ID": "me"})
    assert MADE.fullmatch(chosen.headers["x-request-id"])


async def test_a_rotation_the_lane_answers_carries_the_id(lane, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    token = await arefresh_token(await amember())
    answer = await _call(
        lane,
        "POST",
        "/api/v1/auth/refresh",
        client=PROXY,
        json={"refresh_token": token},
        headers={"X-Request-ID": "lb-10"},
    )
    assert answer.status_code == 200
    assert answer.headers.get_list("x-request-id") == ["lb-10"]


async def test_what_the_lane_leaves_to_the_application_carries_the_same_id(lane, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    passed_on = await _call(
        lane, "GET", "/api/v1/auth/me", client=PROXY, headers={"X-Request-ID": "lb-11"}
    )
    assert passed_on.status_code == PASSED_ON
    assert passed_on.headers.get_list("x-request-id") == ["lb-11"]


async def test_django_s_answers_behind_the_lane_carry_one_id(_asgi_application, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    refused = await _call(
        application, "GET", "/api/v1/auth/me", client=PROXY, headers={"X-Request-ID": "lb-12"}
    )
    assert refused.status_code == 401
    assert refused.headers.get_list("x-request-id") == ["lb-12"]
    page = await _call(application, "GET", "/static/admin/css/base.css")
    assert page.status_code == 200
    assert len(page.headers.get_list("x-request-id")) == 1
    assert MADE.fullmatch(page.headers["x-request-id"])
