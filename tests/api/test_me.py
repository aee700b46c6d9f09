"""GET /api/v1/auth/me, /features and /applications: shapes, scoping to the caller, and
a fixed number of queries whatever the amount of data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role, User
from organisations.access import setup_organisation_access
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserApplicationAccess,
    UserFeatureOverride,
)
from tests.tokens.kit import bearer, issue_pair

# Transactional: on PostgreSQL the fast lane, on connections of its own, sees the rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme():
    organisation = Organisation.objects.create(
        name="Acme", slug="acme", subscription_plan="enterprise"
    )
    return organisation


@pytest.fixture
def alice(acme):
    user = User.objects.create_user(
        "alice@acme.example", organisation=acme, role=Role.ANALYST, name="Alice"
    )
    setup_organisation_access(acme)
    return user


def test_me_requires_authentication(client):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "detail": "Authentication credentials were not provided or are no longer valid.",
    }


def test_me_describes_the_caller(client, alice):
    client.force_login(alice)
    FeatureFlag.objects.create(key="on", name="On", enabled=True, rollout_percentage=100)
    FeatureFlag.objects.create(key="off", name="Off", enabled=False)
    body = client.get("/api/v1/auth/me").json()
    assert body["id"] == alice.pk
    assert body["email"] == "alice@acme.example"
    assert body["role"] == "analyst"
    assert body["organisation"] == {
        "id": alice.organisation_id,
        "name": "Acme",
        "slug": "acme",
        "subscription_plan": "enterprise",
    }
    assert [app["code"] for app in body["applications"]] == [
        "causal_edge",
        "market_edge",
        "value_edge",
    ]
    assert set(body["applications"][0]) == {"code", "name", "tier"}
    assert body["features"] == {"off": False, "on": True}


def test_applications_reflect_revoked_and_disabled_access(client, alice):
    client.force_login(alice)
    UserApplicationAccess.objects.filter(user=alice, tool__code="market_edge").update(
        has_access=False
    )
    OrganisationToolAccess.objects.filter(tool__code="value_edge").update(enabled=False)
    body = client.get("/api/v1/applications").json()
    assert [app["code"] for app in body["applications"]] == ["causal_edge"]
    app = body["applications"][0]
    assert set(app) == {"code", "name", "tier", "features", "limits"}


def test_features_apply_user_then_organisation_overrides(client, alice):
    client.force_login(alice)
    flag_a = FeatureFlag.objects.create(key="a", name="A", enabled=True, rollout_percentage=0)
    flag_b = FeatureFlag.objects.create(key="b", name="B", enabled=True, rollout_percentage=0)
    flag_c = FeatureFlag.objects.create(key="c", name="C", enabled=True, rollout_percentage=0)
    UserFeatureOverride.objects.create(flag=flag_a, user=alice, enabled=True)
    OrganisationFeatureOverride.objects.create(
        flag=flag_b, organisation=alice.organisation, enabled=True
    )
    OrganisationFeatureOverride.objects.create(
        flag=flag_c,
        organisation=alice.organisation,
        enabled=True,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert client.get("/api/v1/features").json() == {"features": {"a": True, "b": True, "c": False}}


def test_overrides_of_another_organisation_do_not_leak(client, alice):
    client.force_login(alice)
    other = Organisation.objects.create(name="Other", slug="other")
    flag = FeatureFlag.objects.create(key="x", name="X", enabled=True, rollout_percentage=0)
    OrganisationFeatureOverride.objects.create(flag=flag, organisation=other, enabled=True)
    assert client.get("/api/v1/features").json() == {"features": {"x": False}}


# session + user with organisation, then: applications (1) and flags with the user's and
# the organisation's overrides (1).
@pytest.mark.parametrize(
    ("path", "queries"),
    [("/api/v1/auth/me", 4), ("/api/v1/features", 3), ("/api/v1/applications", 3)],
)
def test_query_count_does_not_grow_with_data(
    client, alice, path, queries, django_assert_num_queries
):
    client.force_login(alice)
    client.get(path)  # the first request of a session may save it (idle timeout)
    for index in range(20):
        flag = FeatureFlag.objects.create(key=f"f{index}", name="F", enabled=True)
        UserFeatureOverride.objects.create(flag=flag, user=alice, enabled=bool(index % 2))
    with django_assert_num_queries(queries):
        response = client.get(path)
    assert response.status_code == 200


ACCESS_PATHS = ("/api/v1/auth/me", "/api/v1/features", "/api/v1/applications")


@pytest.mark.postgres
@pytest.mark.parametrize("path", ACCESS_PATHS)
def test_an_app_token_s_caller_and_access_are_one_statement(
    client, alice, path, django_assert_num_queries, settings
):
    """On PostgreSQL, the token family's lookup carries the view's access reads (the
    fast lane off: its statements run on connections of its own)."""
    settings.FAST_LANE = False
    FeatureFlag.objects.create(key="a", name="A", enabled=True, rollout_percentage=100)
    headers = bearer(issue_pair(alice)["access_token"])
    client.get(path, **headers)  # the signing keys are loaded once per process
    with django_assert_num_queries(1):
        response = client.get(path, **headers)
    assert response.status_code == 200
    client.force_login(alice)
    assert response.json() == client.get(path).json()


@pytest.mark.postgres
@pytest.mark.parametrize("path", ACCESS_PATHS)
def test_a_member_moved_since_their_token_was_issued_gets_the_new_organisation_s_access(
    client, alice, path, django_assert_num_queries, settings
):
    """The statement reads access for the organisation the token names; when the member
    has moved since, a second reads it for the one they are in now."""
    settings.FAST_LANE = False
    headers = bearer(issue_pair(alice)["access_token"])
    client.get(path, **headers)
    globex = Organisation.objects.create(name="Globex", slug="globex")
    User.objects.filter(pk=alice.pk).update(organisation=globex)
    setup_organisation_access(globex)
    OrganisationToolAccess.objects.filter(organisation=globex).update(tier="professional")
    flag = FeatureFlag.objects.create(key="g", name="G", enabled=True, rollout_percentage=0)
    OrganisationFeatureOverride.objects.create(flag=flag, organisation=globex, enabled=True)
    with django_assert_num_queries(2):
        response = client.get(path, **headers)
    assert response.status_code == 200
    body = response.json()
    if "applications" in body:
        assert body["applications"]
        assert {app["tier"] for app in body["applications"]} == {"professional"}
    if "features" in body:
        assert body["features"] == {"g": True}
