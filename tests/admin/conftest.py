"""Two organisations, A and B, each with an organisation admin and a member, plus a super
admin by role (not a Django superuser), so every test can try one tenant against the other.

Organisation admins get exactly the permissions their role gives them (no group, no
permission granted by hand): what the tests prove is what any organisation admin can and
cannot do."""

import pytest

from accounts.models import Role, User
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)
from tests.admin.kit import sign_in


@pytest.fixture
def tool(db):
    tool, _ = Tool.objects.get_or_create(
        code="market_edge", defaults={"name": "Market Edge", "is_default": True}
    )
    return tool


@pytest.fixture
def org_a(db, tool):
    organisation = Organisation.objects.create(name="Alpha", slug="alpha")
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    return organisation


@pytest.fixture
def org_b(db, tool):
    organisation = Organisation.objects.create(name="Bravo", slug="bravo")
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    return organisation


@pytest.fixture
def make_staff(db):
    """A person of ``organisation`` with ``role`` (an organisation admin by default)."""

    def make(email, organisation, role=Role.ADMIN):
        return User.objects.create_user(email, name="Staff", role=role, organisation=organisation)

    return make


@pytest.fixture
def admin_a(make_staff, org_a):
    return make_staff("admin@alpha.example", org_a)


@pytest.fixture
def member_a(org_a):
    return User.objects.create_user("member@alpha.example", name="Member A", organisation=org_a)


@pytest.fixture
def member_b(org_b):
    return User.objects.create_user("member@bravo.example", name="Member B", organisation=org_b)


@pytest.fixture
def super_admin(db):
    return User.objects.create_user("root@operators.example", name="Root", role=Role.SUPER_ADMIN)


@pytest.fixture
def flag(db):
    return FeatureFlag.objects.create(key="beta", name="Beta", enabled=True)


@pytest.fixture
def access_b(member_b, tool):
    return UserApplicationAccess.objects.create(user=member_b, tool=tool)


@pytest.fixture
def org_override_b(flag, org_b):
    return OrganisationFeatureOverride.objects.create(flag=flag, organisation=org_b, enabled=True)


@pytest.fixture
def user_override_b(flag, member_b):
    return UserFeatureOverride.objects.create(flag=flag, user=member_b, enabled=True)


@pytest.fixture
def as_admin_a(client, admin_a):
    return sign_in(client, admin_a)


@pytest.fixture
def as_super_admin(client, super_admin):
    return sign_in(client, super_admin)
