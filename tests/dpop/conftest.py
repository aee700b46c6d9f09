import pytest

from accounts.models import User
from organisations.models import Organisation, OrganisationToolAccess, Tool, UserApplicationAccess

from .kit import Key


@pytest.fixture
def user(db):
    organisation = Organisation.objects.create(name="Acme", slug="acme")
    member = User.objects.create_user(
        "viewer@acme.example", organisation=organisation, role="viewer"
    )
    tool = Tool.objects.create(code="dpop-test-tool", name="DPoP test tool")
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    UserApplicationAccess.objects.create(user=member, tool=tool)
    return member


@pytest.fixture
def key():
    """The web app's key."""
    return Key()


@pytest.fixture
def thief_key():
    """A key of the attacker's own, on another machine."""
    return Key()
