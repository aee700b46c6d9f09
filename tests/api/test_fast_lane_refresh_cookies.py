"""The fast lane's refresh of the web app's cookie (authsite/fastlane/): answered with
the same cookie and headers as Django's, and passed on unspent whenever Django's CSRF
check would refuse it or a CSRF cookie needs Django's attention."""

import json

import httpx2
import pytest

from authsite.asgi import django_application
from tests.api.kit import amember, arefresh_token
from tests.api.refreshkit import (
    FRONTEND,
    PEER,
    children_of,
    comparable_headers,
    passed_on_intact,
    post,
    token_row,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


async def _csrf() -> tuple[str, str]:
    """(the CSRF cookie, the token for the header), as the web app gets them."""
    transport = httpx2.ASGITransport(app=django_application, client=PEER)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get("/api/v1/auth/csrf")
    return answer.cookies["csrftoken"], answer.json()["csrf_token"]


def _cookie_headers(refresh_token, csrf_cookie, csrf_token, **extra) -> dict:
    return {
        "Cookie": f"csrftoken={csrf_cookie}; refresh_token={refresh_token}",
        "X-CSRFToken": csrf_token,
        "Origin": FRONTEND,
        **extra,
    }


def _set_cookie(response) -> tuple[str, list[str]]:
    """(the cookie's name=value, its attributes in order)."""
    [header] = response.headers.get_list("set-cookie")
    value, *attributes = [part.strip() for part in header.split(";")]
    return value, attributes


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36",
        # On Chromium's list of clients that mishandle SameSite=None: left out for them.
        "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
    ],
)
async def test_the_web_app_s_cookie_refresh_is_answered_as_django_does(lane, user_agent):
    user = await amember()
    by_lane, by_django = await arefresh_token(user), await arefresh_token(user)
    csrf_cookie, csrf_token = await _csrf()

    lane_answer = await post(
        lane,
        b"",
        headers=_cookie_headers(by_lane, csrf_cookie, csrf_token, **{"User-Agent": user_agent}),
    )
    django_answer = await post(
        django_application,
        b"",
        headers=_cookie_headers(by_django, csrf_cookie, csrf_token, **{"User-Agent": user_agent}),
    )

    assert lane_answer.status_code == django_answer.status_code == 200
    lane_cookie, django_cookie = _set_cookie(lane_answer), _set_cookie(django_answer)
    assert lane_cookie[0] == f"refresh_token={lane_answer.json()['refresh_token']}"
    assert lane_cookie[1] == django_cookie[1]  # path, expiry, HttpOnly, SameSite, ...
    headers = [comparable_headers(answer) for answer in (lane_answer, django_answer)]
    for answer_headers in headers:
        answer_headers.pop("set-cookie")
    assert headers[0] == headers[1]
    assert len(await children_of(by_lane)) == 1


async def test_a_cookie_refresh_that_fails_the_csrf_check_is_passed_on_unspent(lane):
    token = await arefresh_token(await amember())
    csrf_cookie, csrf_token = await _csrf()
    for headers in (
        _cookie_headers(token, csrf_cookie, "wrong" * 8),
        _cookie_headers(token, csrf_cookie, csrf_token, Origin="https://evil.example"),
        {"Cookie": f"refresh_token={token}", "Origin": FRONTEND},  # no CSRF cookie
    ):
        await passed_on_intact(lane, b"", headers=headers)
    assert (await token_row(token)).used_at is None


async def test_a_malformed_csrf_cookie_is_left_to_django_which_replaces_it(lane):
    token = await arefresh_token(await amember())
    body = json.dumps({"refresh_token": token}).encode()
    await passed_on_intact(lane, body, headers={"Cookie": "csrftoken=not-a-secret"})
    answer = await post(django_application, body, headers={"Cookie": "csrftoken=not-a-secret"})
    assert answer.status_code == 200 and "csrftoken" in answer.cookies
