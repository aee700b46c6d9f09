"""A person's access in the shared cache (organisations/access_cache.py), as the API's
callers see it: a warm /me, /features or /applications reads no access rows from the
database, and every kind of change to a person's access shows at their next request,
after an earlier request warmed the cache. On PostgreSQL, the fast lane (which keeps its
own SQL) and Django's path give the same answers after each change."""

from datetime import timedelta

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from authsite.asgi import application, django_application
from organisations.access import (
    backfill_access,
    features_for,
    grant_member_application_access,
    setup_organisation_access,
)
from organisations.access_cache import EVERYONE
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)
from tests.admin.formdata import change_form_data
from tests.admin.kit import sign_in
from tests.api.kit import member
from tests.tokens.kit import aissue_token_pair

pytestmark = pytest.mark.django_db(transaction=True)

ME, FEATURES, APPLICATIONS = "/api/v1/auth/me", "/api/v1/features", "/api/v1/applications"
PATHS = (ME, FEATURES, APPLICATIONS)
ACCESS_TABLES = tuple(
    Model._meta.db_table
    for Model in (
        FeatureFlag,
        OrganisationFeatureOverride,
        OrganisationToolAccess,
        Tool,
        UserApplicationAccess,
        UserFeatureOverride,
    )
)


@pytest.fixture(autouse=True)
def _shared_cache(redis_cache):
    """The default cache on Redis, as production runs it (with local memory, access is
    not cached: organisations/access_cache.py)."""


@pytest.fixture
def alice():
    """A member of Acme with the default tools, flags and overrides of every kind."""
    user = member("acme")
    flags = {
        key: FeatureFlag.objects.create(key=key, name=key, enabled=True, rollout_percentage=0)
        for key in ("by-user", "by-org", "everyone", "plain")
    }
    FeatureFlag.objects.filter(key="everyone").update(rollout_percentage=100)
    UserFeatureOverride.objects.create(user=user, flag=flags["by-user"], enabled=True)
    OrganisationFeatureOverride.objects.create(
        organisation=user.organisation, flag=flags["by-org"], enabled=True
    )
    return user


def _answers(client) -> dict:
    return {path: _answer(client.get(path)) for path in PATHS}


def _answer(response):
    return response.status_code, response.json()


def _cold_answers(client) -> dict:
    """The answers read from the database: everyone's version gone, no entry is found."""
    cache.delete(EVERYONE)
    return _answers(client)


def _access_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if any(t in query["sql"] for t in ACCESS_TABLES)]


# --- what each change is ----------------------------------------------------------------


def _organisation_loses_a_tool(alice):
    OrganisationToolAccess.objects.get(
        organisation=alice.organisation, tool__code="value_edge"
    ).delete()


def _organisation_s_tool_access_disabled(alice):
    OrganisationToolAccess.objects.filter(
        organisation=alice.organisation, tool__code="market_edge"
    ).update(enabled=False)


def _organisation_s_tool_access_moved(alice):
    elsewhere = Organisation.objects.create(name="Elsewhere", slug="elsewhere")
    access = OrganisationToolAccess.objects.get(
        organisation=alice.organisation, tool__code="causal_edge"
    )
    access.organisation = elsewhere
    access.save()


def _application_access_revoked(alice):
    access = UserApplicationAccess.objects.get(user=alice, tool__code="causal_edge")
    access.has_access = False
    access.save()


def _application_access_deleted(alice):
    UserApplicationAccess.objects.filter(user=alice, tool__code="market_edge").delete()


def _application_access_moved_to_a_colleague(alice):
    colleague = User.objects.create_user("bob@acme.example", organisation=alice.organisation)
    access = UserApplicationAccess.objects.get(user=alice, tool__code="value_edge")
    access.user = colleague
    access.save()


def _tool_deactivated(alice):
    tool = Tool.objects.get(code="market_edge")
    tool.is_active = False
    tool.save()


def _tool_renamed(alice):
    Tool.objects.filter(code="value_edge").update(name="Value Edge Pro")


def _flag_disabled(alice):
    flag = FeatureFlag.objects.get(key="everyone")
    flag.enabled = False
    flag.save()


def _flag_rolled_back(alice):
    FeatureFlag.objects.filter(key="everyone").update(rollout_percentage=0)


def _flag_deleted(alice):
    FeatureFlag.objects.get(key="plain").delete()


def _organisation_override_added(alice):
    OrganisationFeatureOverride.objects.create(
        organisation=alice.organisation, flag=FeatureFlag.objects.get(key="plain"), enabled=True
    )


def _organisation_override_removed(alice):
    OrganisationFeatureOverride.objects.filter(organisation=alice.organisation).delete()


def _organisation_override_expired(alice):
    override = OrganisationFeatureOverride.objects.get(organisation=alice.organisation)
    override.expires_at = timezone.now() - timedelta(seconds=1)
    override.save()


def _user_override_added(alice):
    UserFeatureOverride.objects.create(
        user=alice, flag=FeatureFlag.objects.get(key="everyone"), enabled=False
    )


def _user_override_removed(alice):
    UserFeatureOverride.objects.get(user=alice).delete()


def _user_override_expired(alice):
    UserFeatureOverride.objects.filter(user=alice).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def _role_changed(alice):
    alice.role = Role.ADMIN
    alice.save()


def _moved_to_another_organisation(alice):
    alice.organisation = Organisation.objects.create(name="Other", slug="other")
    alice.save()


def _organisation_deactivated(alice):
    Organisation.objects.filter(pk=alice.organisation_id).update(is_active=False)


def _deactivated(alice):
    User.objects.filter(pk=alice.pk).update(is_active=False)


CHANGES = [
    _organisation_loses_a_tool,
    _organisation_s_tool_access_disabled,
    _organisation_s_tool_access_moved,
    _application_access_revoked,
    _application_access_deleted,
    _application_access_moved_to_a_colleague,
    _tool_deactivated,
    _tool_renamed,
    _flag_disabled,
    _flag_rolled_back,
    _flag_deleted,
    _organisation_override_added,
    _organisation_override_removed,
    _organisation_override_expired,
    _user_override_added,
    _user_override_removed,
    _user_override_expired,
    _role_changed,
    _moved_to_another_organisation,
    _organisation_deactivated,
    _deactivated,
]


def _named(change) -> str:
    return change.__name__.strip("_").replace("_", " ")


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_a_warm_request_reads_no_access_rows(client, alice, path):
    client.force_login(alice)
    with CaptureQueriesContext(connection) as cold:
        first = _answer(client.get(path))
    with CaptureQueriesContext(connection) as warm:
        second = _answer(client.get(path))
    assert second == first
    assert first[0] == 200
    assert _access_queries(cold.captured_queries)
    assert _access_queries(warm.captured_queries) == []


@pytest.mark.parametrize("in_a_transaction", [False, True], ids=["autocommit", "transaction"])
@pytest.mark.parametrize("change", CHANGES, ids=_named)
def test_a_change_shows_at_the_next_request_after_a_warm_one(
    client, alice, change, in_a_transaction
):
    client.force_login(alice)
    _answers(client)
    before = _answers(client)  # from the cache
    if in_a_transaction:
        with transaction.atomic():
            change(alice)
    else:
        change(alice)
    after = _answers(client)
    assert after[ME] != before[ME], "the change is one the person can see"
    assert after == _cold_answers(client)


def _codes(client) -> list[str]:
    return [app["code"] for app in client.get(APPLICATIONS).json()["applications"]]


@pytest.mark.parametrize(
    ("missing", "grant"),
    [
        (OrganisationToolAccess, lambda alice: setup_organisation_access(alice.organisation)),
        (OrganisationToolAccess, lambda alice: backfill_access([alice.organisation_id])),
        (UserApplicationAccess, grant_member_application_access),
    ],
    ids=["setup_organisation_access", "backfill_access", "grant_member_application_access"],
)
def test_access_granted_in_bulk_shows_at_the_next_request(client, alice, missing, grant):
    """The grants insert with bulk_create, which Django sends no signal for."""
    missing.objects.filter(tool__code="value_edge").delete()
    client.force_login(alice)
    assert _codes(client) == ["causal_edge", "market_edge"]  # warms
    grant(alice)
    assert _codes(client) == ["causal_edge", "market_edge", "value_edge"]


def test_access_revoked_in_the_admin_shows_at_the_member_s_next_request(client, new_client, alice):
    client.force_login(alice)
    assert "market_edge" in _codes(client)  # warms
    operator = User.objects.create_user(
        "admin@acme.example", organisation=alice.organisation, role=Role.ADMIN
    )
    admin = sign_in(new_client(), operator)
    access = UserApplicationAccess.objects.get(user=alice, tool__code="market_edge")
    url = reverse("admin:organisations_userapplicationaccess_change", args=[access.pk])
    data = change_form_data(admin.get(url))
    del data["has_access"]  # unticked
    assert admin.post(url, data).status_code == 302
    assert "market_edge" not in _codes(client)


def test_an_override_stops_applying_when_it_expires_with_the_entry_still_warm(
    client, alice, django_assert_num_queries
):
    client.force_login(alice)
    expiry = timezone.now() + timedelta(minutes=1)
    UserFeatureOverride.objects.filter(user=alice).update(expires_at=expiry)
    assert client.get(FEATURES).json()["features"]["by-user"] is True  # warms
    with django_assert_num_queries(0):
        assert features_for(alice, expiry - timedelta(seconds=1))["by-user"] is True
        assert features_for(alice, expiry)["by-user"] is False


# --- the fast lane and Django's path ----------------------------------------------------


async def _bearer_me(app, token: str) -> httpx2.Response:
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(ME, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        _organisation_s_tool_access_disabled,
        _application_access_revoked,
        _tool_deactivated,
        _flag_disabled,
        _organisation_override_removed,
        _user_override_expired,
        _moved_to_another_organisation,
    ],
    ids=_named,
)
async def test_the_fast_lane_and_django_agree_after_a_change_to_warm_access(
    alice, change, _asgi_application
):
    pair = await aissue_token_pair(alice, issuer="http://testserver")
    token = pair["access_token"]
    before = await _bearer_me(django_application, token)
    assert (await _bearer_me(django_application, token)).content == before.content  # warm
    await sync_to_async(change)(alice)
    lane, django = await _bearer_me(application, token), await _bearer_me(django_application, token)
    assert lane.status_code == django.status_code == 200
    assert lane.content == django.content != before.content
