"""The fast lane's refresh (authsite/fastlane/): POST /api/v1/auth/refresh, the token
in the body or in the web app's cookie, rotated on the event loop in front of Django.

Where the lane answers, a client cannot tell it from Django: the same status, headers
(the new cookie's attributes included) and body shape, the same rows written (a child of
the presented token, the TOKEN_REFRESHED event) and a pair that works. Where Django
would answer anything else (every refusal, the rate limit, a token already spent, a
failed CSRF check), the lane writes nothing and passes the request on with its body
intact. Each test drives the lane in front of a stand-in that echoes the body it
received with status 599; the reference answers come from Django's own ASGI application."""

import asyncio
import json
from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.core.signals import request_started
from django.utils import timezone

from accounts import keys
from accounts.models import RefreshToken, TokenFamily, User
from accounts.tokens import access as access_tokens
from accounts.tokens import base as token_base
from authsite.asgi import django_application
from organisations.models import Organisation
from tests.api.kit import amember, arefresh_token, cut_the_lane_s_connections
from tests.api.refreshkit import (
    PASSED_ON,
    PEER,
    children_of,
    comparable_headers,
    passed_on_intact,
    post,
    refreshed_event,
    row_counts,
    token_row,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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

    lane_answer = await post(lane, token=by_lane, headers=dict(headers), client=client)
    django_answer = await post(
        django_application, token=by_django, headers=dict(headers), client=client
    )

    assert lane_answer.status_code == django_answer.status_code == 200
    assert comparable_headers(lane_answer) == comparable_headers(django_answer)
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
        [child] = await children_of(presented)
        parent = await token_row(presented)
        assert parent.used_at is not None and child.family_id == parent.family_id
        assert child.token_hash == token_base.hash_token(answer["refresh_token"])
        lifetime = child.expires_at - child.created_at
        assert abs(lifetime - timedelta(seconds=settings.REFRESH_TOKEN_TTL)).total_seconds() < 5
    lane_event, django_event = await refreshed_event(by_lane), await refreshed_event(by_django)
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
    answer = await post(lane, token=await arefresh_token(user))
    assert answer.status_code == 200
    pair = answer.json()

    transport = httpx2.ASGITransport(app=django_application, client=PEER)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        me = await http.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
    assert me.status_code == 200 and me.json()["email"] == user.email
    # The successor rotates again, through the lane and through Django.
    following = await post(full_stack, token=pair["refresh_token"])
    assert following.status_code == 200
    assert (
        await post(django_application, token=following.json()["refresh_token"])
    ).status_code == 200


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
    before = await row_counts()

    passed = await post(lane, body)
    assert passed.status_code == PASSED_ON and passed.content == body
    assert await row_counts() == before  # nothing spent, written or revoked

    status, error = REFUSALS[how]
    answer = await post(full_stack, body)
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
    assert (await post(lane, token=first)).status_code == 200
    assert (await post(lane, token=second)).status_code == 200

    assert (await post(lane, token=third)).status_code == PASSED_ON
    assert (await token_row(third)).used_at is None
    answer = await post(full_stack, token=third)
    assert answer.status_code == 429 and answer.json()["error"] == "rate_limited"
    assert int(answer.headers["Retry-After"]) >= 1
    assert (await token_row(third)).used_at is None


async def test_requests_the_lane_does_not_serve_reach_django_with_their_body(lane, settings):
    user = await amember()
    token = await arefresh_token(user)
    before = await row_counts()
    # No token at all: Django's 401.
    await passed_on_intact(lane, b"")
    await passed_on_intact(lane, b"{}")
    # Bodies Django answers with a 400, or reads at any length.
    for body in (
        b"{not json",
        b"[1, 2]",
        b'{"refresh_token": 42}',
        b'{"refresh_token": ""}',
        json.dumps({"refresh_token": token, "padding": "x" * 5000}).encode(),
    ):
        await passed_on_intact(lane, body)
    # A Host Django refuses; another method.
    body = json.dumps({"refresh_token": token}).encode()
    await passed_on_intact(lane, body, headers={"Host": "evil.example"})
    await passed_on_intact(lane, body, method="PUT")
    # A site that redirects plain HTTP to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    await passed_on_intact(lane, body)
    assert await row_counts() == before


async def test_a_body_sent_in_several_parts_is_read_whole(lane):
    token = await arefresh_token(await amember())
    body = json.dumps({"refresh_token": token}).encode()

    async def in_parts():
        for start in range(0, len(body), 10):
            yield body[start : start + 10]

    answer = await post(lane, in_parts())
    assert answer.status_code == 200
    assert len(await children_of(token)) == 1


# --- races and failures ----------------------------------------------------------------


async def test_concurrent_presentations_through_lane_and_django_rotate_exactly_once(full_stack):
    token = await arefresh_token(await amember())
    answers = await asyncio.gather(*(post(full_stack, token=token) for _ in range(32)))
    # One winner; every other presentation within the grace gets a sibling from Django.
    assert {answer.status_code for answer in answers} == {200}
    assert len(await children_of(token)) == 1
    refresh_tokens = {answer.json()["refresh_token"] for answer in answers}
    assert len(refresh_tokens) == 32


async def test_a_lost_database_connection_passes_the_refresh_on_unspent(lane, caplog):
    user = await amember()
    assert (await post(lane, token=await arefresh_token(user))).status_code == 200
    assert await cut_the_lane_s_connections() >= 1

    token = await arefresh_token(user)
    assert (await post(lane, token=token)).status_code == PASSED_ON
    assert "fast lane: database unavailable, answering through Django" in caplog.text
    assert (await token_row(token)).used_at is None
    # Broken connections are dropped and new ones opened; until then, Django answers.
    statuses = [(await post(lane, token=token)).status_code for _ in range(5)]
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
        by_django = await post(full_stack, token=first)
        by_lane = await post(full_stack, token=second)
    finally:
        request_started.disconnect(record)
    assert by_django.status_code == by_lane.status_code == 200
    assert len(started) == 1
