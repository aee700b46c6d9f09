"""Auth0 access tokens for AUTH0_AUDIENCE are accepted as Bearer tokens on the JSON API,
verified locally (no /userinfo call per request), the person upserted on first sight."""

import time

import pytest
from asgiref.sync import sync_to_async

from accounts.models import ExternalIdentity, User
from accounts.upsert import upsert_identity

pytestmark = pytest.mark.django_db(transaction=True)
AUDIENCE = "https://api.example"


@pytest.fixture
def audience(idp, settings):
    settings.AUTH0_AUDIENCE = AUDIENCE
    return AUDIENCE


def access_token(idp, **changes):
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "sub": "auth0|api-caller",
        "aud": [AUDIENCE, idp.issuer + "userinfo"],
        "azp": "test-client",
        "scope": "openid profile",
        "iat": now,
        "exp": now + 600,
        "org_id": "org_acme",
    }
    claims.update(changes)
    return idp.sign({key: value for key, value in claims.items() if value is not None})


async def me(async_client, token):
    return await async_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_first_sight_upserts_and_answers(async_client, idp, audience):
    response = await me(async_client, access_token(idp))
    assert response.status_code == 200, response.content
    # access tokens carry org_id but no org_name: the organisation is named after its id
    assert response.json()["organisation"]["name"] == "org_acme"
    assert await ExternalIdentity.objects.filter(subject="auth0|api-caller").acount() == 1
    again = await me(async_client, access_token(idp))
    assert again.json()["id"] == response.json()["id"]
    assert await User.objects.acount() == 1
    assert idp.requests[("GET", "/userinfo")] == 0


async def test_access_owed_since_a_failed_first_sight_is_granted_at_the_next_use(
    async_client, idp, audience
):
    """The first sight's unit committed but granting failed: the next request grants."""
    claims = {"iss": idp.issuer, "sub": "auth0|api-caller", "org_id": "org_acme"}
    await sync_to_async(upsert_identity)(idp.issuer, claims)
    response = await me(async_client, access_token(idp))
    assert response.status_code == 200, response.content
    assert [app["code"] for app in response.json()["applications"]] == [
        "causal_edge",
        "market_edge",
        "value_edge",
    ]
    assert not await User.objects.filter(access_pending=True).aexists()


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://another.api"},
        {"iss": "https://evil.example/"},
        {"exp": int(time.time()) - 300},
        {"sub": None},
    ],
    ids=["wrong_aud", "wrong_iss", "expired", "no_sub"],
)
async def test_bad_provider_tokens_are_refused(async_client, idp, audience, changes):
    response = await me(async_client, access_token(idp, **changes))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert not await User.objects.aexists()


async def test_provider_tokens_are_refused_when_no_audience_is_configured(async_client, idp):
    response = await me(async_client, access_token(idp))
    assert response.status_code == 401


async def test_a_token_signed_by_a_foreign_key_is_refused(async_client, idp, audience):
    now = int(time.time())
    forged = idp.sign(
        {"iss": idp.issuer, "sub": "x", "aud": AUDIENCE, "iat": now, "exp": now + 60},
        key=idp.foreign_key(),
    )
    assert (await me(async_client, forged)).status_code == 401


async def test_deactivated_user_is_refused(async_client, idp, audience):
    assert (await me(async_client, access_token(idp))).status_code == 200
    await User.objects.aupdate(is_active=False)
    response = await me(async_client, access_token(idp))
    assert response.status_code == 401
    assert response.json()["error"] == "user_inactive"


async def test_provider_down_is_a_503(async_client, idp, audience, settings):
    settings.AUTH0_HTTP_TIMEOUT = 0.5
    idp.fail("discovery", "500")
    response = await me(async_client, access_token(idp))
    assert response.status_code == 503
    assert response.json()["error"] == "idp_unavailable"


async def test_machine_tokens_do_not_become_people(async_client, idp, audience):
    token = access_token(idp, sub="some-client@clients", gty="client-credentials", org_id=None)
    response = await me(async_client, token)
    assert response.status_code == 401
    assert not await User.objects.aexists()


async def test_an_id_token_is_not_an_access_token(async_client, idp, audience):
    """An ID token's audience is the client, not the API."""
    now = int(time.time())
    id_token = idp.sign(
        {"iss": idp.issuer, "sub": "auth0|alice", "aud": "test-client", "iat": now,
         "exp": now + 600, "nonce": "n"}
    )  # fmt: skip
    assert (await me(async_client, id_token)).status_code == 401
