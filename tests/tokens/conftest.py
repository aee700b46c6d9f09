import pytest

from accounts import keys
from accounts.models import User
from organisations.models import Organisation, OrganisationToolAccess, Tool, UserApplicationAccess


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    # Signing keys live in the database, which each test rolls back: forget every
    # snapshot and key a previous test made.
    keys.clear_caches()
    yield
    keys.clear_caches()


@pytest.fixture
def organisation(db):
    return Organisation.objects.create(name="Acme", slug="acme")


@pytest.fixture
def user(organisation):
    member = User.objects.create_user(
        "viewer@acme.example", organisation=organisation, role="viewer"
    )
    tool = Tool.objects.create(code="tokens-test-tool", name="Tokens test tool")
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    UserApplicationAccess.objects.create(user=member, tool=tool)
    return member
