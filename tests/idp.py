"""Pytest fixtures for the local identity provider (accounts/devidp), loaded with
`pytest_plugins = ["tests.idp"]`.

`idp_server` serves one Provider over real HTTP for the whole session; `idp` hands that
provider to a test in a clean state, with the AUTH0_* settings pointing at it.
"""

import pytest

from accounts.devidp.provider import Provider
from accounts.devidp.server import ThreadedServer, serve_in_thread

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
REDIRECT_URIS = [
    "http://testserver/auth/callback",
    "http://127.0.0.1:*/auth/callback",
    "http://localhost:*/auth/callback",
]
ALICE, BOB, MALLORY = "auth0|alice", "auth0|bob", "auth0|mallory"


def seed(provider: Provider) -> None:
    """Make the test client and users exactly these (whatever a test added or changed)."""
    provider.clients.clear()
    provider.users.clear()
    provider.add_client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS)
    provider.add_user(
        ALICE,
        email="alice@acme.example",
        name="Alice Acme",
        org_id="org_acme",
        org_name="Acme Analytics",
    )
    provider.add_user(BOB, email="bob@example.com", name="Bob Example")
    provider.add_user(
        MALLORY, email="mallory@acme.example", email_verified=False, name="Mallory Unverified"
    )


@pytest.fixture(scope="session")
def idp_server() -> ThreadedServer:
    provider = Provider()
    seed(provider)
    with serve_in_thread(provider) as server:
        yield server


@pytest.fixture
def idp(idp_server: ThreadedServer, settings) -> Provider:
    """The session's provider, reset (no faults, delays or hooks, counters cleared, only
    its first key, the seeded client and users), with AUTH0_ISSUER, AUTH0_CLIENT_ID and
    AUTH0_CLIENT_SECRET set for it and AUTH0_AUDIENCE unset. Reset again afterwards, so
    that a request still held open by a "timeout" fault ends."""
    provider = idp_server.provider
    provider.reset()
    seed(provider)
    use_provider(settings, provider)
    yield provider
    provider.reset()


def use_provider(settings, provider: Provider, secret: str = CLIENT_SECRET) -> None:
    """Point the AUTH0_* settings at ``provider``'s test client (its ``secret``), with
    AUTH0_AUDIENCE unset."""
    settings.AUTH0_ISSUER = provider.issuer
    settings.AUTH0_CLIENT_ID = CLIENT_ID
    settings.AUTH0_CLIENT_SECRET = secret
    settings.AUTH0_AUDIENCE = None
