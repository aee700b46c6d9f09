"""The fast lane's refresh (authsite/fastlane/): POST /api/v1/auth/refresh, the token
in the body or in the web app's cookie, rotated on the event loop in front of Django.

Where the lane answers, a client cannot tell it from Django: the same status, headers
(the new cookie's attributes included) and body shape, the same rows written (a child of
the presented token, the TOKEN_REFRESHED event) and a pair that works. Where Django
would answer anything else (every refusal, the rate limit, a token already spent, a
failed CSRF check), the lane writes nothing and passes the request on with its body
intact. Each test drives the lane
in front of a stand-in that echoes the body it received with status 599; the reference
answers come from Django's own ASGI application."""

import asyncio
import json
from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.core.signals import request_started
from django.utils import timezone

from accounts import keys
from accounts.models import AuditEvent, AuditType, RefreshToken, TokenFamily, User
from accounts.tokens import access as access_tokens
from accounts.tokens import base as token_base
from authsite.asgi import django_application
from authsite.fastlane.app import FastLane
from organisations.models import Organisation
from tests.api.kit import amember, arefresh_token, cut_the_lane_s_connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PASSED_ON = 599
PATH = "/api/v1/auth/refresh"
FRONTEND = "http://localhost:5173"
PEER = ("127.0.0.1", 50000)


async def _echo(scope, receive, send):
    """The stand-in for Django: 599, with the body it was given."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def lane(transactional_db):
    """The lane in front of a stand-in. The signing key is made and loaded first, as
    Django's path does for a process's first token: the lane reads no key from the
    database (test_keys_the_process_does_not_hold_are_left_to_django)."""
    await keys.asigner()
    fast_lane = FastLane(_echo)
    yield fast_lane
    await fast_lane.close()


@pytest.fixture
async def full_stack():
    """The production application: the lane in front of Django."""
    fast_lane = FastLane(django_application)
    yield fast_lane
    await fast_lane.close()


async def _post(app, body=None, *, token=None, method="POST", client=PEER, **kwargs):
    if token is not None:
        body = json.dumps({"refresh_token": token}).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    transport = httpx2.ASGITransport(app=app, client=client)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, PATH, content=body, headers=headers, **kwargs)


@sync_to_async
def _token_row(plaintext: str) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))


@sync_to_async
def _children(plaintext: str) -> list[RefreshToken]:
    parent = RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))
    return list(RefreshToken.objects.filter(parent=parent))


@sync_to_async
def _row_counts() -> tuple[int, int, int]:
    return (
        RefreshToken.objects.count(),
        AuditEvent.objects.count(),
        TokenFamily.objects.filter(revoked_at__isnull=False).count(),
    )


@sync_to_async
def _refreshed_event(plaintext: str) -> AuditEvent:
    presented = RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))
    return AuditEvent.objects.get(type=AuditType.TOKEN_REFRESHED, details__presented=presented.pk)


def _headers(response) -> dict:
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers.pop("expires").endswith(" GMT")  # the time of the answer
    headers.pop("content-length")  # the tokens' lengths vary by a character or two
    return headers


# --- where the lane answers, it is Django --------------------------------------------

CALLERS = {
    "a client on the same host": ({}, PEER, {}),
    "the web app, behind a trusted proxy that terminates TLS": (
        {
            "Origin": "http://localhost:5173",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "User-Agent": "Browser/1.0",
        },
        ("10.0.0.2", 443),
        {"TRUSTED_PROXIES": ["10.0.0.0/8"], "SECURE_PROXY_SSL_HEADER": None},
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
async def test_the_lane_rotates_exactly_as_django_does(lane, settings, caller):
    headers, client, overrides = CALLERS[caller]
    for name, value in overrides.items():
        setattr(settings, name, value)
    if overrides:
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    user = await amember()
    by_lane, by_django = await arefresh_token(user), await arefresh_token(user)

    lane_answer = await _post(lane, token=by_lane, headers=dict(headers), client=client)
    django_answer = await _post(
        django_application, token=by_django, headers=dict(headers), client=client
    )

    assert lane_answer.status_code == django_answer.status_code == 200
    assert _headers(lane_answer) == _headers(django_answer)
    lane_pair, django_pair = lane_answer.json(), django_answer.json()
    assert lane_pair.keys() == django_pair.keys()
    assert lane_pair["token_type"] == "Bearer"
    assert lane_pair["expires_in"] == django_pair["expires_in"]
    lane_claims = access_tokens.unverified_claims(lane_pair["access_token"])
    django_claims = access_tokens.unverified_claims(django_pair["access_token"])
    assert lane_claims.keys() == django_claims.keys()
    for claim in ("iss", "aud", "sub", "org", "role", "apps"):
        assert lane_claims[claim] == django_claims[claim], claim
    assert lane_claims["apps"]  # the member's applications, read in the same transaction

    # The same rows: one child of the presented token, in its family, and the event.
    for presented, answer in ((by_lane, lane_pair), (by_django, django_pair)):
        [child] = await _children(presented)
        parent = await _token_row(presented)
        assert parent.used_at is not None and child.family_id == parent.family_id
        assert child.token_hash == token_base.hash_token(answer["refresh_token"])
        lifetime = child.expires_at - child.created_at
        assert abs(lifetime - timedelta(seconds=settings.REFRESH_TOKEN_TTL)).total_seconds() < 5
    lane_event, django_event = await _refreshed_event(by_lane), await _refreshed_event(by_django)
    for event in (lane_event, django_event):
        assert (event.user_id, event.organisation_id) == (user.pk, user.organisation_id)
        assert event.details["grace"] is False
    assert lane_event.details.keys() == django_event.details.keys()
    assert (lane_event.ip, lane_event.user_agent) == (django_event.ip, django_event.user_agent)
    if overrides:
        assert lane_event.ip == "203.0.113.9"
        assert lane_claims["iss"] == "https://testserver"


async def test_the_pair_from_the_lane_works_everywhere(lane, full_stack):
    user = await amember()
    answer = await _post(lane, token=await arefresh_token(user))
    assert answer.status_code == 200
    pair = answer.json()

    transport = httpx2.ASGITransport(app=django_application, client=PEER)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        me = await http.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
    assert me.status_code == 200 and me.json()["email"] == user.email
    # The successor rotates again, through the lane and through Django.
    following = await _post(full_stack, token=pair["refresh_token"])
    assert following.status_code == 200
    assert (
        await _post(django_application, token=following.json()["refresh_token"])
    ).status_code == 200


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

    lane_answer = await _post(
        lane,
        b"",
        headers=_cookie_headers(by_lane, csrf_cookie, csrf_token, **{"User-Agent": user_agent}),
    )
    django_answer = await _post(
        django_application,
        b"",
        headers=_cookie_headers(by_django, csrf_cookie, csrf_token, **{"User-Agent": user_agent}),
    )

    assert lane_answer.status_code == django_answer.status_code == 200
    lane_cookie, django_cookie = _set_cookie(lane_answer), _set_cookie(django_answer)
    assert lane_cookie[0] == f"refresh_token={lane_answer.json()['refresh_token']}"
    assert lane_cookie[1] == django_cookie[1]  # path, expiry, HttpOnly, SameSite, ...
    headers = [_headers(answer) for answer in (lane_answer, django_answer)]
    for answer_headers in headers:
        answer_headers.pop("set-cookie")
    assert headers[0] == headers[1]
    assert len(await _children(by_lane)) == 1


async def test_a_cookie_refresh_that_fails_the_csrf_check_is_passed_on_unspent(lane):
    token = await arefresh_token(await amember())
    csrf_cookie, csrf_token = await _csrf()
    for headers in (
        _cookie_headers(token, csrf_cookie, "wrong" * 8),
        _cookie_headers(token, csrf_cookie, csrf_token, Origin="https://evil.example"),
        {"Cookie": f"refresh_token={token}", "Origin": FRONTEND},  # no CSRF cookie
    ):
        await _passed_on_intact(lane, b"", headers=headers)
    assert (await _token_row(token)).used_at is None


async def test_a_malformed_csrf_cookie_is_left_to_django_which_replaces_it(lane):
    token = await arefresh_token(await amember())
    body = json.dumps({"refresh_token": token}).encode()
    await _passed_on_intact(lane, body, headers={"Cookie": "csrftoken=not-a-secret"})
    answer = await _post(django_application, body, headers={"Cookie": "csrftoken=not-a-secret"})
    assert answer.status_code == 200 and "csrftoken" in answer.cookies


# --- where Django would answer otherwise, the lane writes nothing ---------------------


@sync_to_async
def _spoil(user, plaintext: str, how: str) -> None:
    row = RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))
    now = timezone.now()
    if how == "revoked family":
        TokenFamily.objects.filter(pk=row.family_id).update(revoked_at=now)
    elif how == "revoked token":
        RefreshToken.objects.filter(pk=row.pk).update(revoked_at=now)
    elif how == "expired":
        RefreshToken.objects.filter(pk=row.pk).update(expires_at=now - timedelta(seconds=1))
    elif how == "inactive user":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif how == "inactive organisation":
        Organisation.objects.filter(pk=user.organisation_id).update(is_active=False)
    elif how == "spent within the grace":
        RefreshToken.objects.filter(pk=row.pk).update(used_at=now)
    elif how == "spent after the grace":
        RefreshToken.objects.filter(pk=row.pk).update(used_at=now - timedelta(hours=1))


REFUSALS = {
    "unknown": (401, "invalid_token"),
    "revoked family": (401, "invalid_token"),
    "revoked token": (401, "invalid_token"),
    "expired": (401, "token_expired"),
    "inactive user": (401, "user_inactive"),
    "inactive organisation": (401, "user_inactive"),
    "spent within the grace": (200, None),  # a sibling pair: Django writes it
    "spent after the grace": (401, "token_reused"),  # Django revokes the family
}


@pytest.mark.parametrize("how", REFUSALS)
async def test_tokens_django_refuses_or_treats_specially_are_passed_on_untouched(
    lane, full_stack, how
):
    user = await amember()
    plaintext = await arefresh_token(user)
    if how == "unknown":
        plaintext = "not-a-token-this-server-issued"
    else:
        await _spoil(user, plaintext, how)
    body = json.dumps({"refresh_token": plaintext}).encode()
    before = await _row_counts()

    passed = await _post(lane, body)
    assert passed.status_code == PASSED_ON and passed.content == body
    assert await _row_counts() == before  # nothing spent, written or revoked

    status, error = REFUSALS[how]
    answer = await _post(full_stack, body)
    assert answer.status_code == status
    if error:
        assert answer.json()["error"] == error


async def test_a_rate_limited_refresh_is_passed_on_and_spends_nothing(lane, full_stack, settings):
    await _a_limited_refresh_is_passed_on(lane, full_stack, settings)


async def test_with_redis_a_rate_limited_refresh_is_passed_on_and_spends_nothing(
    lane, full_stack, settings, redis_cache
):
    await _a_limited_refresh_is_passed_on(lane, full_stack, settings)


async def _a_limited_refresh_is_passed_on(lane, full_stack, settings):
    settings.RATE_LIMIT_TOKEN = "2/h"
    user = await amember()
    first, second, third = [await arefresh_token(user) for _ in range(3)]
    assert (await _post(lane, token=first)).status_code == 200
    assert (await _post(lane, token=second)).status_code == 200

    assert (await _post(lane, token=third)).status_code == PASSED_ON
    assert (await _token_row(third)).used_at is None
    answer = await _post(full_stack, token=third)
    assert answer.status_code == 429 and answer.json()["error"] == "rate_limited"
    assert int(answer.headers["Retry-After"]) >= 1
    assert (await _token_row(third)).used_at is None


async def _passed_on_intact(lane, body, **kwargs):
    answer = await _post(lane, body, **kwargs)
    assert answer.status_code == PASSED_ON
    assert answer.content == (body or b"")


async def test_requests_the_lane_does_not_serve_reach_django_with_their_body(lane, settings):
    user = await amember()
    token = await arefresh_token(user)
    before = await _row_counts()
    # No token at all: Django's 401.
    await _passed_on_intact(lane, b"")
    await _passed_on_intact(lane, b"{}")
    # Bodies Django answers with a 400, or reads at any length.
    for body in (
        b"{not json",
        b"[1, 2]",
        b'{"refresh_token": 42}',
        b'{"refresh_token": ""}',
        json.dumps({"refresh_token": token, "padding": "x" * 5000}).encode(),
    ):
        await _passed_on_intact(lane, body)
    # A Host Django refuses; another method.
    body = json.dumps({"refresh_token": token}).encode()
    await _passed_on_intact(lane, body, headers={"Host": "evil.example"})
    await _passed_on_intact(lane, body, method="PUT")
    # A site that redirects plain HTTP to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    await _passed_on_intact(lane, body)
    assert await _row_counts() == before


async def test_a_body_sent_in_several_parts_is_read_whole(lane):
    token = await arefresh_token(await amember())
    body = json.dumps({"refresh_token": token}).encode()

    async def in_parts():
        for start in range(0, len(body), 10):
            yield body[start : start + 10]

    answer = await _post(lane, in_parts())
    assert answer.status_code == 200
    assert len(await _children(token)) == 1


# --- races and failures ----------------------------------------------------------------


async def test_concurrent_presentations_through_lane_and_django_rotate_exactly_once(full_stack):
    token = await arefresh_token(await amember())
    answers = await asyncio.gather(*(_post(full_stack, token=token) for _ in range(32)))
    # One winner; every other presentation within the grace gets a sibling from Django.
    assert {answer.status_code for answer in answers} == {200}
    assert len(await _children(token)) == 1
    refresh_tokens = {answer.json()["refresh_token"] for answer in answers}
    assert len(refresh_tokens) == 32


async def test_a_lost_database_connection_passes_the_refresh_on_unspent(lane, caplog):
    user = await amember()
    assert (await _post(lane, token=await arefresh_token(user))).status_code == 200
    assert await cut_the_lane_s_connections() >= 1

    token = await arefresh_token(user)
    assert (await _post(lane, token=token)).status_code == PASSED_ON
    assert "fast lane: database unavailable, answering through Django" in caplog.text
    assert (await _token_row(token)).used_at is None
    # Broken connections are dropped and new ones opened; until then, Django answers.
    statuses = [(await _post(lane, token=token)).status_code for _ in range(5)]
    assert statuses.count(200) == 1 and statuses[-1] == PASSED_ON  # then it is spent


async def test_keys_the_process_does_not_hold_are_left_to_django(full_stack):
    """A process's first signature needs the key from the database: Django's path loads
    it, in a request's own thread; the lane then signs with it."""
    keys.clear_caches()
    user = await amember()
    first, second = await arefresh_token(user), await arefresh_token(user)
    started = []

    def record(sender, **kwargs):
        started.append(sender)

    request_started.connect(record)
    try:
        by_django = await _post(full_stack, token=first)
        by_lane = await _post(full_stack, token=second)
    finally:
        request_started.disconnect(record)
    assert by_django.status_code == by_lane.status_code == 200
    assert len(started) == 1
