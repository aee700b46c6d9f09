"""Feature-flag evaluation: properties of the pure functions, then the database entry
points that views use."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import User
from organisations.access import (
    Override,
    applications_for,
    evaluate_flag,
    features_for,
    rollout_bucket,
)
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

user_ids = st.one_of(st.integers(min_value=1, max_value=2**63 - 1), st.uuids())
keys = st.from_regex(r"[a-z][a-z0-9_-]{0,60}", fullmatch=True)
percentages = st.integers(min_value=0, max_value=100)
unexpired = st.one_of(
    st.none(), st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650))
)
expired = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650))


@st.composite
def live_overrides(draw):
    lifetime = draw(unexpired)
    return Override(draw(st.booleans()), None if lifetime is None else NOW + lifetime)


@st.composite
def expired_overrides(draw):
    return Override(draw(st.booleans()), NOW - draw(expired))


any_override = st.one_of(st.none(), live_overrides(), expired_overrides())


def evaluate(key, user_id, percentage, enabled=True, user_override=None, org_override=None):
    return evaluate_flag(
        key=key,
        enabled=enabled,
        rollout_percentage=percentage,
        user_id=user_id,
        now=NOW,
        user_override=user_override,
        organisation_override=org_override,
    )


@given(keys, user_ids, percentages, percentages)
def test_rollout_is_monotone_in_the_percentage(key, user_id, p, q):
    low, high = sorted((p, q))
    if evaluate(key, user_id, low):
        assert evaluate(key, user_id, high)


@given(keys, user_ids, percentages)
def test_rollout_is_stable_per_user(key, user_id, percentage):
    bucket = rollout_bucket(user_id, key)
    assert 0 <= bucket <= 99
    assert rollout_bucket(user_id, key) == bucket
    assert evaluate(key, user_id, percentage) == evaluate(key, user_id, percentage)
    assert evaluate(key, user_id, percentage) == (bucket < percentage)


def test_buckets_do_not_change_between_releases():
    # A different hash would silently move every user in or out of every partial rollout.
    assert rollout_bucket(42, "beta_exports") == 37
    assert rollout_bucket(7, "new_dashboard") == 44
    assert rollout_bucket(1, "beta_exports") == 99


def test_rollout_splits_users_roughly_in_proportion():
    on = sum(evaluate("beta_exports", user_id, 30) for user_id in range(1, 10_001))
    assert 2_700 <= on <= 3_300


@given(keys, user_ids)
def test_zero_percent_is_off_and_hundred_is_on(key, user_id):
    assert evaluate(key, user_id, 0) is False
    assert evaluate(key, user_id, 100) is True


@given(keys, user_ids, percentages, any_override, any_override)
def test_disabled_flag_is_off_whatever_the_overrides(
    key, user_id, percentage, user_override, org_override
):
    assert not evaluate(key, user_id, percentage, False, user_override, org_override)


@given(keys, user_ids, percentages, live_overrides(), any_override)
def test_user_override_beats_organisation_override_and_rollout(
    key, user_id, percentage, user_override, org_override
):
    result = evaluate(key, user_id, percentage, True, user_override, org_override)
    assert result is user_override.enabled


@given(keys, user_ids, percentages, st.one_of(st.none(), expired_overrides()), live_overrides())
def test_organisation_override_beats_rollout(key, user_id, percentage, user_override, org_override):
    result = evaluate(key, user_id, percentage, True, user_override, org_override)
    assert result is org_override.enabled


@given(keys, user_ids, percentages, expired_overrides(), expired_overrides())
def test_expired_overrides_are_ignored(key, user_id, percentage, user_override, org_override):
    with_expired = evaluate(key, user_id, percentage, True, user_override, org_override)
    assert with_expired == evaluate(key, user_id, percentage)


# --- the async entry points, against the database ---------------------------------------


@pytest.fixture
def member(transactional_db):
    organisation = Organisation.objects.create(name="Flags Inc", slug="flags-inc")
    return User.objects.create_user("member@flags.example", organisation=organisation)


@pytest.mark.django_db(transaction=True)
async def test_features_for_applies_overrides_of_the_user_and_their_organisation(member):
    other = await User.objects.acreate(
        email="other@flags.example", organisation_id=member.organisation_id
    )
    past = NOW - timedelta(days=1)

    async def flag(key, enabled=True, rollout=0):
        return await FeatureFlag.objects.acreate(
            key=key, name=key, enabled=enabled, rollout_percentage=rollout
        )

    await flag("everyone", rollout=100)
    await flag("nobody")
    off = await flag("switched_off", enabled=False, rollout=100)
    await UserFeatureOverride.objects.acreate(flag=off, user=member, enabled=True)
    org_on = await flag("organisation_on")
    await OrganisationFeatureOverride.objects.acreate(
        flag=org_on, organisation_id=member.organisation_id, enabled=True
    )
    user_wins = await flag("user_wins")
    await OrganisationFeatureOverride.objects.acreate(
        flag=user_wins, organisation_id=member.organisation_id, enabled=True
    )
    await UserFeatureOverride.objects.acreate(flag=user_wins, user=member, enabled=False)
    stale = await flag("stale_override")
    await UserFeatureOverride.objects.acreate(
        flag=stale, user=member, enabled=True, expires_at=past
    )
    someone_else = await flag("someone_else")
    await UserFeatureOverride.objects.acreate(flag=someone_else, user=other, enabled=True)

    features = await sync_to_async(features_for)(member, NOW)

    expected = {
        "everyone": True,
        "nobody": False,
        "switched_off": False,
        "organisation_on": True,
        "user_wins": False,
        "stale_override": False,
        "someone_else": False,
    }
    assert {key: features[key] for key in expected} == expected


@pytest.mark.django_db(transaction=True)
async def test_applications_for_lists_only_what_user_and_organisation_both_have(member):
    other_organisation = await Organisation.objects.acreate(name="Elsewhere", slug="elsewhere")

    async def tool(code, *, active=True, organisation_enabled=None, user_access=None):
        created = await Tool.objects.acreate(code=code, name=code.title(), is_active=active)
        if organisation_enabled is not None:
            await OrganisationToolAccess.objects.acreate(
                organisation_id=member.organisation_id,
                tool=created,
                enabled=organisation_enabled,
                tier="professional",
                features=["reports"],
                limits={"seats": 3},
            )
        if user_access is not None:
            await UserApplicationAccess.objects.acreate(
                user=member, tool=created, has_access=user_access
            )
        return created

    await tool("opens", organisation_enabled=True, user_access=True)
    await tool("user_revoked", organisation_enabled=True, user_access=False)
    await tool("organisation_disabled", organisation_enabled=False, user_access=True)
    await tool("retired", active=False, organisation_enabled=True, user_access=True)
    await tool("not_granted", organisation_enabled=True)
    elsewhere = await tool("elsewhere_only", user_access=True)
    await OrganisationToolAccess.objects.acreate(organisation=other_organisation, tool=elsewhere)

    assert await sync_to_async(applications_for)(member) == [
        {
            "code": "opens",
            "name": "Opens",
            "tier": "professional",
            "features": ["reports"],
            "limits": {"seats": 3},
        }
    ]
