import os

import pytest

from tests.e2e.servers import E2EDatabase, Server


@pytest.fixture(scope="session")
def e2e_database():
    database = E2EDatabase(f"authsite_e2e_{os.getpid()}")
    yield database
    database.drop()


def auth0_env(idp_server, **extra):
    return {
        "AUTH0_ISSUER": idp_server.url,
        "AUTH0_CLIENT_ID": "test-client",
        "AUTH0_CLIENT_SECRET": "test-secret",
        "FRONTEND_ORIGINS": "http://localhost:5173",
        # Many logins come from one test client; rate limits have tests of their own.
        "RATE_LIMIT_LOGIN": "100000/m",
        "RATE_LIMIT_TOKEN": "100000/m",
        **extra,
    }


@pytest.fixture(scope="session")
def api_server(e2e_database, idp_server):
    """The API under uvicorn with a same-site cookie policy that a plain HTTP client
    can follow over http:// (Secure cookies are only sent over HTTPS or to browsers'
    trustworthy localhost)."""
    server = Server(
        e2e_database,
        auth0_env(
            idp_server,
            COOKIE_SAMESITE="Lax",
            COOKIE_SECURE="false",
            # The break-glass operator of test_admin_under_uvicorn signs in with a
            # password, which needs both switches (docs/operations.md).
            ADMIN_PASSWORD_LOGIN="true",
            ADMIN_MFA_REQUIRED="false",
        ),
    )
    yield server
    server.stop()
    server.assert_clean_log()


@pytest.fixture
def live(api_server, idp_server):
    idp_server.provider.reset()
    from tests.idp import seed

    seed(idp_server.provider)
    yield api_server
    idp_server.provider.reset()
