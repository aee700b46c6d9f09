"""The fast lane (authsite/fastlane/): GET /api/v1/auth/me with an app access token,
answered on the event loop in front of Django.

Two things must hold. Where the lane answers, the answer is Django's to the byte: the
same body and the same headers, for every kind of caller. Where Django would answer
anything but that 200 (a bad token, a revoked family, a deactivated account, a host or
method it refuses), the lane does not answer at all. Each test drives the lane in front
of a stand-in application that answers 599, so a 599 proves the request went past it;
the reference answers come from Django's own ASGI application."""

import asyncio
import re
from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.models import Role, TokenFamily, User
from accounts.tokens import access as access_tokens
from authsite.asgi import django_application
from authsite.fastlane.app import FastLane
from organisations.access import setup_organisation_access
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserFeatureOverride,
)
from tests.api.kit import cut_the_lane_s_connections
from tests.tokens.kit import aissue_token_pair

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FRONTEND = "http://localhost:5173"
PASSED_ON = 599


async def _stand_in(scope, receive, send):
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": b"passed on"})


@pytest.fixture
async def lane():
    fast_lane = FastLane(_stand_in)
    yield fast_lane
    await fast_lane.close()


async def _get(app, path="/api/v1/auth/me", *, token=None, method="GET", **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    client = kwargs.pop("client", ("127.0.0.1", 50000))
    transport = httpx2.ASGITransport(app=app, client=client)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path, headers=headers, **kwargs)


async def _django(token, headers=None, client=("127.0.0.1", 50000)):
    """The reference: Django's own ASGI application, without the lane."""
    return await _get(django_application, token=token, headers=dict(headers or {}), client=client)


@sync_to_async
def _member_of_acme() -> User:
    """A member of Acme with applications, flags and overrides of every kind (a user's,
    an organisation's, an expired one), and JSON features and limits."""
    acme, _ = Organisation.objects.get_or_create(
        slug="acme", defaults={"name": "Acme «Analytics»", "subscription_plan": "enterprise"}
    )
    user = User.objects.create_user(
        f"member{User.objects.count()}@acme.example",
        organisation=acme,
        role=Role.ANALYST,
        name="Zoë Member",
        picture="https://example.com/z.png",
    )
    setup_organisation_access(acme)
    OrganisationToolAccess.objects.filter(organisation=acme).update(
        limits={"seats": 5, "nested": {"ok": True}}, features=["export", "π"]
    )
    flags = {
        key: FeatureFlag.objects.get_or_create(
            key=key, defaults={"name": key, "enabled": True, "rollout_percentage": rollout}
        )[0]
        for key, rollout in (("half", 50), ("user-on", 0), ("org-off", 100), ("expired", 0))
    }
    UserFeatureOverride.objects.create(user=user, flag=flags["user-on"], enabled=True)
    OrganisationFeatureOverride.objects.get_or_create(
        organisation=acme, flag=flags["org-off"], defaults={"enabled": False}
    )
    UserFeatureOverride.objects.create(
        user=user,
        flag=flags["expired"],
        enabled=True,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    return user


async def _access_token(user) -> str:
    pair = await aissue_token_pair(user, issuer="http://testserver")
    return pair["access_token"]


def _comparable(response) -> dict:
    headers = {name.lower(): value for name, value in response.headers.items()}
    # Expires is the time of the answer: the same format, a moment apart.
    assert headers.pop("expires").endswith(" GMT")
    # Each answer has an id of its own, of the same shape.
    assert re.fullmatch("[0-9a-f]{32}", headers.pop("x-request-id"))
    return headers


async def _assert_same_answer(lane_response, django_response):
    assert lane_response.status_code == 200
    assert django_response.status_code == 200
    assert lane_response.content == django_response.content
    assert _comparable(lane_response) == _comparable(django_response)


# --- the lane's answers are Django's ---------------------------------------------------


async def test_the_lane_answers_me_exactly_as_django_does(lane):
    user = await _member_of_acme()
    token = await _access_token(user)
    response = await _get(lane, token=token)
    await _assert_same_answer(response, await _django(token))
    body = response.json()
    assert body["email"] == user.email and body["organisation"]["name"] == "Acme «Analytics»"
    assert body["features"]["user-on"] is True  # the user's override
    assert body["features"]["org-off"] is False  # the organisation's override
    assert body["features"]["expired"] is False  # an expired override does not apply
    assert body["applications"] and all(app["tier"] for app in body["applications"])


async def test_cors_headers_for_the_web_app_and_none_for_another_origin(lane):
    token = await _access_token(await _member_of_acme())
    for origin in (FRONTEND, "https://evil.example"):
        headers = {"Origin": origin}
        response = await _get(lane, token=token, headers=dict(headers))
        await _assert_same_answer(response, await _django(token, headers))
    allowed = await _get(lane, token=token, headers={"Origin": FRONTEND})
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert allowed.headers["access-control-allow-credentials"] == "true"
    foreign = await _get(lane, token=token, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_hsts_only_when_https_is_proved_by_a_trusted_proxy(lane, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    token = await _access_token(await _member_of_acme())
    forwarded = {"X-Forwarded-Proto": "https"}

    behind_proxy = await _get(lane, token=token, headers=dict(forwarded), client=("10.1.2.3", 1))
    reference = await _django(token, forwarded, client=("10.1.2.3", 1))
    await _assert_same_answer(behind_proxy, reference)
    assert behind_proxy.headers["strict-transport-security"] == "max-age=31536000"

    # The same header from anyone else proves nothing.
    direct = await _get(lane, token=token, headers=dict(forwarded), client=("203.0.113.9", 1))
    await _assert_same_answer(direct, await _django(token, forwarded, client=("203.0.113.9", 1)))
    assert "strict-transport-security" not in direct.headers


async def test_a_member_without_access_rows_and_a_super_admin_without_organisation(lane):
    acme = await Organisation.objects.acreate(name="Bare", slug="bare")
    create_user = sync_to_async(User.objects.create_user)
    bare = await create_user("bare@bare.example", organisation=acme)
    root = await create_user("root@ops.example", role=Role.SUPER_ADMIN)
    for user in (bare, root):
        token = await _access_token(user)
        response = await _get(lane, token=token)
        await _assert_same_answer(response, await _django(token))
    assert response.json()["organisation"] is None and response.json()["applications"] == []


async def test_a_member_moved_since_the_token_was_minted_sees_the_new_organisation(lane):
    """The lane reads access for the organisation in the token first; the user's
    organisation now is what counts."""
    user = await _member_of_acme()
    token = await _access_token(user)
    globex = await Organisation.objects.acreate(name="Globex", slug="globex")
    await sync_to_async(setup_organisation_access)(globex)
    await OrganisationToolAccess.objects.filter(organisation=globex).aupdate(tier="professional")
    await User.objects.filter(pk=user.pk).aupdate(organisation=globex)
    await sync_to_async(setup_organisation_access)(globex)  # grants the moved member

    response = await _get(lane, token=token)
    await _assert_same_answer(response, await _django(token))
    body = response.json()
    assert body["organisation"]["slug"] == "globex"
    assert body["applications"]
    assert {app["tier"] for app in body["applications"]} == {"professional"}
    assert body["features"]["org-off"] is True  # Acme's override no longer applies


# --- what the lane leaves to Django ----------------------------------------------------


async def test_revocation_and_deactivation_take_effect_at_the_next_request(lane):
    user = await _member_of_acme()
    token = await _access_token(user)
    assert (await _get(lane, token=token)).status_code == 200

    await TokenFamily.objects.filter(user=user).aupdate(revoked_at=timezone.now())
    assert (await _get(lane, token=token)).status_code == PASSED_ON
    assert (await _django(token)).json()["error"] == "invalid_token"

    other = await _access_token(user)
    await User.objects.filter(pk=user.pk).aupdate(is_active=False)
    assert (await _get(lane, token=other)).status_code == PASSED_ON
    await User.objects.filter(pk=user.pk).aupdate(is_active=True)
    await Organisation.objects.filter(pk=user.organisation_id).aupdate(is_active=False)
    assert (await _get(lane, token=other)).status_code == PASSED_ON
    assert (await _django(other)).json()["error"] == "user_inactive"


async def test_tokens_that_do_not_verify_are_left_to_django(lane, settings):
    user = await _member_of_acme()
    token = await _access_token(user)
    header, payload, signature = token.split(".")
    settings.ACCESS_TOKEN_TTL = -120  # minted already expired, beyond the leeway
    expired = await _access_token(user)
    for bad in (
        f"{header}.{payload}.{signature[:-4]}AAAA",  # signature
        f"{header}.{payload}",  # shape
        "not-a-token",
        expired,
    ):
        assert (await _get(lane, token=bad)).status_code == PASSED_ON, bad


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "POST"},
        {"method": "HEAD"},
        {"path": "/api/v1/auth/me/"},
        {"path": "/api/v1/auth/features"},
        {"headers": {"Host": "attacker.example"}},
        {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
        {"headers": {"Authorization": "Bearer"}},
        {"headers": {"Cookie": "sessionid=abc"}},
    ],
    ids=["post", "head", "slash", "other-path", "host", "basic", "empty", "cookie"],
)
async def test_requests_the_lane_does_not_serve_are_passed_on(lane, request_kwargs):
    token = await _access_token(await _member_of_acme())
    kwargs = {**request_kwargs, "headers": dict(request_kwargs.get("headers", {}))}
    if "Authorization" not in kwargs["headers"] and "Cookie" not in kwargs["headers"]:
        kwargs["token"] = token
    response = await _get(lane, **kwargs)
    assert response.status_code == PASSED_ON


async def test_a_malformed_csrf_cookie_is_left_to_django_which_renews_it(lane):
    token = await _access_token(await _member_of_acme())
    malformed = {"Cookie": "csrftoken=not-a-secret"}
    assert (await _get(lane, token=token, headers=dict(malformed))).status_code == PASSED_ON
    renewed = await _django(token, malformed)
    assert renewed.status_code == 200 and "csrftoken" in renewed.cookies
    # A well-formed one changes nothing in Django's answer: the lane gives the same.
    good = {"Cookie": f"csrftoken={'a' * 32}; sessionid=whatever"}
    await _assert_same_answer(
        await _get(lane, token=token, headers=dict(good)), await _django(token, good)
    )


async def test_the_provider_s_tokens_are_left_to_django(lane, settings):
    """An Auth0 access token is verified against the provider and may create a user:
    Django's path. Its issuer is configured here to be this server's own, the case where
    the two could be confused."""
    token = await _access_token(await _member_of_acme())
    assert (await _get(lane, token=token)).status_code == 200  # verified, remembered
    settings.AUTH0_AUDIENCE = "https://api.example"
    settings.AUTH0_ISSUER = "http://testserver/"
    assert (await _get(lane, token=token)).status_code == PASSED_ON
    fresh = await _access_token(await _member_of_acme())
    assert (await _get(lane, token=fresh)).status_code == PASSED_ON


async def test_a_token_the_lane_verified_before_is_left_to_django_once_expired(lane, settings):
    """The lane remembers the tokens it verified (access_tokens.remembered_access_claims): the
    clock is still checked at every request."""
    settings.ACCESS_TOKEN_TTL = 2 - access_tokens.CLOCK_LEEWAY  # valid for about 2 more seconds
    token = await _access_token(await _member_of_acme())
    assert (await _get(lane, token=token)).status_code == 200
    await asyncio.sleep(3.1)
    assert (await _get(lane, token=token)).status_code == PASSED_ON
    refused = (await _django(token)).json()
    assert (refused["error"], refused["detail"]) == (
        "invalid_token",
        "The access token has expired.",
    )


async def test_a_lost_database_connection_passes_the_request_on_then_the_lane_recovers(
    lane, caplog
):
    token = await _access_token(await _member_of_acme())
    assert (await _get(lane, token=token)).status_code == 200
    assert await cut_the_lane_s_connections() >= 1

    assert (await _get(lane, token=token)).status_code == PASSED_ON
    assert "fast lane: database unavailable, answering through Django" in caplog.text
    statuses = [(await _get(lane, token=token)).status_code for _ in range(5)]
    assert statuses[-1] == 200  # broken connections are dropped, new ones opened


async def test_many_concurrent_requests_share_a_small_pool(lane):
    token = await _access_token(await _member_of_acme())
    transport = httpx2.ASGITransport(app=lane, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answers = await asyncio.gather(
            *(
                http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
                for _ in range(100)
            )
        )
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
