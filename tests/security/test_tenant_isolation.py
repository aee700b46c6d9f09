"""Tenant isolation on the JSON API: a user of one organisation never reads or changes
anything of another, whatever ids of the other tenant they put in the request."""

import json

import pytest

from accounts.models import Role, User
from organisations.access import setup_organisation_access
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserFeatureOverride,
)
from tests.asgi_client import sync_client_class
from tests.tokens.kit import aissue_token_pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenants():
    acme = Organisation.objects.create(name="Acme", slug="acme", subscription_plan="basic")
    globex = Organisation.objects.create(
        name="Globex Secret Name", slug="globex", subscription_plan="enterprise"
    )
    alice = User.objects.create_user("alice@acme.example", organisation=acme, role=Role.ADMIN)
    gina = User.objects.create_user("gina@globex.example", organisation=globex, role=Role.ADMIN)
    setup_organisation_access(acme)
    setup_organisation_access(globex)
    OrganisationToolAccess.objects.filter(organisation=globex).update(
        tier="enterprise", limits={"secret_limit": 999}
    )
    flag = FeatureFlag.objects.create(key="beta", name="Beta", enabled=True, rollout_percentage=0)
    OrganisationFeatureOverride.objects.create(flag=flag, organisation=globex, enabled=True)
    UserFeatureOverride.objects.create(flag=flag, user=gina, enabled=True)
    return globex, alice, gina


def foreign_ids(globex, gina):
    return {
        "organisation": globex.pk,
        "organisation_id": globex.pk,
        "org": globex.pk,
        "org_id": "org_globex",
        "slug": "globex",
        "user": gina.pk,
        "user_id": gina.pk,
        "id": gina.pk,
        "sub": str(gina.pk),
    }


GETS = ["/api/v1/auth/me", "/api/v1/features", "/api/v1/applications"]


def assert_nothing_of(globex, gina, body):
    text = json.dumps(body)
    assert "Globex Secret Name" not in text
    assert "gina@globex.example" not in text
    assert "secret_limit" not in text
    assert "enterprise" not in text


@pytest.mark.parametrize("path", GETS)
def test_session_user_reads_only_their_tenant(tenants, path):
    globex, alice, gina = tenants
    client = sync_client_class()()
    client.force_login(alice)
    response = client.get(path, foreign_ids(globex, gina))
    assert response.status_code == 200
    assert_nothing_of(globex, gina, response.json())
    if path == "/api/v1/features":
        assert response.json()["features"] == {"beta": False}


@pytest.mark.parametrize("path", GETS)
async def test_bearer_user_reads_only_their_tenant(tenants, path, async_client):
    globex, alice, gina = tenants
    pair = await aissue_token_pair(alice, issuer="http://testserver")
    response = await async_client.get(
        path, foreign_ids(globex, gina), headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert response.status_code == 200
    assert_nothing_of(globex, gina, response.json())


async def test_token_endpoint_ignores_foreign_ids_in_the_body(tenants, async_client):
    globex, alice, gina = tenants
    pair = await aissue_token_pair(alice, issuer="http://testserver")
    response = await async_client.post(
        "/api/v1/auth/token",
        foreign_ids(globex, gina),
        content_type="application/json",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert response.status_code == 200
    minted = response.json()["access_token"]
    me = await async_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {minted}"})
    assert me.json()["email"] == "alice@acme.example"


async def test_foreign_ids_reach_nothing_on_refresh_revoke_or_logout(tenants, async_client):
    globex, alice, gina = tenants
    gina_pair = await aissue_token_pair(gina, issuer="http://testserver")
    alice_pair = await aissue_token_pair(alice, issuer="http://testserver")
    foreign = foreign_ids(globex, gina)
    # ids are not credentials: each request acts on the caller's own token only
    refreshed = await async_client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": alice_pair["refresh_token"], **foreign},
        content_type="application/json",
    )
    assert refreshed.status_code == 200
    alice_pair = refreshed.json()
    bearer = {"Authorization": f"Bearer {alice_pair['access_token']}"}
    assert (await async_client.get("/api/v1/auth/me", headers=bearer)).json()["id"] == alice.pk
    revoked = await async_client.post(
        "/api/v1/auth/revoke",
        {"refresh_token": alice_pair["refresh_token"], **foreign},
        content_type="application/json",
    )
    assert revoked.status_code == 200
    other = await aissue_token_pair(alice, issuer="http://testserver")
    logout = await async_client.post(
        "/auth/logout",
        foreign,
        content_type="application/json",
        headers={"Authorization": f"Bearer {other['access_token']}"},
    )
    assert logout.status_code == 200
    gina_bearer = {"Authorization": f"Bearer {gina_pair['access_token']}"}
    assert (await async_client.get("/api/v1/auth/me", headers=gina_bearer)).status_code == 200
    gina_refresh = await async_client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": gina_pair["refresh_token"]},
        content_type="application/json",
    )
    assert gina_refresh.status_code == 200
