import secrets

import pytest

from accounts.models import User
from accounts.tokens import handoff as handoff_codes
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


@pytest.fixture
def verifier():
    """The web app's handoff verifier."""
    return secrets.token_urlsafe(48)


@pytest.fixture
def code(user, verifier):
    """A login code of ``user`` waiting for its redemption with ``verifier``."""
    return handoff_codes.create_handoff_code(user, handoff_codes.s256(verifier))
