"""Default tool access and members' application access: idempotent, and settled by the
database when many callers race."""

import threading
from types import SimpleNamespace

import pytest
from django.db import connection

from accounts.models import User
from organisations.access import (
    grant_default_tool_access,
    grant_member_application_access,
    setup_organisation_access,
)
from organisations.models import (
    Organisation,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)

DEFAULT_CODES = ("market_edge", "causal_edge", "value_edge")


@pytest.fixture
def default_tools(db):
    """The data migration's three default tools, recreated if an earlier transactional
    test flushed the table."""
    for code in DEFAULT_CODES:
        Tool.objects.update_or_create(
            code=code, defaults={"name": code, "is_active": True, "is_default": True}
        )
    return list(Tool.objects.filter(code__in=DEFAULT_CODES))


@pytest.fixture
def organisation(db):
    return Organisation.objects.create(name="Acme", slug="acme")


@pytest.fixture
def grant():
    """The two grants, ``default`` and ``member``."""
    return SimpleNamespace(
        default=grant_default_tool_access, member=grant_member_application_access
    )


def granted_tools(organisation):
    return set(
        OrganisationToolAccess.objects.filter(organisation=organisation).values_list(
            "tool__code", flat=True
        )
    )


def test_default_tool_access_copies_tool_defaults_and_is_idempotent(
    default_tools, organisation, grant
):
    special = Tool.objects.create(
        code="special",
        name="Special",
        is_default=True,
        default_tier="professional",
        default_features=["exports"],
        default_limits={"seats": 3},
    )
    first = grant.default(organisation)
    assert {tool.code for tool in first} == {*DEFAULT_CODES, "special"}
    access = OrganisationToolAccess.objects.get(organisation=organisation, tool=special)
    assert (access.tier, access.features, access.limits, access.enabled) == (
        "professional",
        ["exports"],
        {"seats": 3},
        True,
    )

    assert grant.default(organisation) == []
    assert OrganisationToolAccess.objects.filter(organisation=organisation).count() == 4


def test_inactive_or_optional_tools_are_not_granted(default_tools, organisation, grant):
    Tool.objects.create(code="retired", name="Retired", is_default=True, is_active=False)
    Tool.objects.create(code="optional", name="Optional", is_default=False)
    grant.default(organisation)
    assert granted_tools(organisation) == set(DEFAULT_CODES)


def test_disabled_tool_access_is_left_alone(default_tools, organisation, grant):
    tool = default_tools[0]
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool, enabled=False)
    granted = grant.default(organisation)
    assert tool not in granted
    assert OrganisationToolAccess.objects.get(organisation=organisation, tool=tool).enabled is False


def test_member_access_follows_enabled_organisation_tools_and_is_idempotent(
    default_tools, organisation, grant
):
    enabled, disabled, *_ = default_tools
    OrganisationToolAccess.objects.create(organisation=organisation, tool=enabled)
    OrganisationToolAccess.objects.create(organisation=organisation, tool=disabled, enabled=False)
    admin = User.objects.create_user("admin@acme.example", organisation=organisation)
    member = User.objects.create_user("member@acme.example", organisation=organisation)

    assert grant.member(member, granted_by=admin) == [enabled.pk]
    access = UserApplicationAccess.objects.get(user=member)
    assert (access.tool, access.has_access, access.granted_by) == (enabled, True, admin)

    assert grant.member(member) == []
    assert UserApplicationAccess.objects.filter(user=member).count() == 1


def test_revoked_member_access_is_not_granted_again(default_tools, organisation, grant):
    tool = default_tools[0]
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    member = User.objects.create_user("member@acme.example", organisation=organisation)
    UserApplicationAccess.objects.create(user=member, tool=tool, has_access=False)
    assert grant.member(member) == []
    assert UserApplicationAccess.objects.get(user=member).has_access is False


def test_super_admin_without_organisation_gets_no_application_access(db, grant):
    root = User.objects.create_superuser("root@operators.example")
    assert grant.member(root) == []
    assert not UserApplicationAccess.objects.filter(user=root).exists()


def test_setup_organisation_access_covers_every_member_once(default_tools, organisation):
    members = [
        User.objects.create_user(f"m{i}@acme.example", organisation=organisation) for i in range(3)
    ]
    tools, grants = setup_organisation_access(organisation)
    assert len(tools) == 3
    assert grants == 9
    assert setup_organisation_access(organisation) == ([], 0)
    for member in members:
        assert set(
            UserApplicationAccess.objects.filter(user=member).values_list("tool__code", flat=True)
        ) == set(DEFAULT_CODES)


def _grant_all(organisation):
    """Grant the organisation its default access, then each member theirs, as a first
    login does for the organisation and its member."""
    grant_default_tool_access(organisation)
    for member in organisation.members.all():
        grant_member_application_access(member)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "setup_access",
    [setup_organisation_access, _grant_all],
    ids=["setup", "grants"],
)
def test_concurrent_setups_leave_one_row_per_tool_and_member(default_tools, setup_access):
    organisation = Organisation.objects.create(name="Race", slug="race")
    members = [
        User.objects.create_user(f"m{i}@race.example", organisation=organisation) for i in range(5)
    ]
    callers = 20
    barrier = threading.Barrier(callers)
    errors = []

    def setup():
        try:
            mine = Organisation.objects.get(pk=organisation.pk)
            barrier.wait(timeout=30)
            setup_access(mine)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=setup) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for tool in default_tools:
        assert (
            OrganisationToolAccess.objects.filter(organisation=organisation, tool=tool).count() == 1
        )
        for member in members:
            assert UserApplicationAccess.objects.filter(user=member, tool=tool).count() == 1
    assert OrganisationToolAccess.objects.filter(organisation=organisation).count() == 3
    assert UserApplicationAccess.objects.filter(user__organisation=organisation).count() == 15
