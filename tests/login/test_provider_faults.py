"""The provider fails: each failure has its documented answer, no session, no user."""

import pytest

from accounts.models import User
from tests.logins import browser_login, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_timeout(settings):
    settings.AUTH0_HTTP_TIMEOUT = 0.5


@pytest.mark.parametrize("mode", ["500", "timeout", "garbage"])
async def test_jwks_failure(async_client, idp, mode):
    idp.fail("jwks", mode)
    response = await browser_login(async_client)
    assert response.status_code == 502, response.content
    assert b"idp_unavailable" in response.content
    assert not await User.objects.aexists()


@pytest.mark.parametrize(
    ("mode", "logged"),
    [
        ("500", "the token endpoint failed (HTTPStatusError)"),
        ("timeout", "ReadTimeout"),
        ("garbage", "the token endpoint answered nonsense"),
    ],
)
async def test_token_endpoint_failure(async_client, idp, mode, logged, caplog):
    idp.fail("token", mode)
    response = await browser_login(async_client)
    assert response.status_code == 502, response.content
    assert b"idp_unavailable" in response.content
    assert "sessionid" not in response.cookies
    assert not await User.objects.aexists()
    # Operators see why in one line; the user's page only says the provider failed.
    assert "login callback failed (idp_unavailable)" in caplog.text
    assert logged in caplog.text


async def test_slow_token_endpoint_within_the_timeout_still_logs_in(async_client, idp, settings):
    settings.AUTH0_HTTP_TIMEOUT = 2.0
    idp.token_delay = 0.3
    response = await browser_login(async_client)
    assert response.status_code == 302


async def test_discovery_down_on_login(async_client, idp):
    idp.fail("discovery", "500")
    response = await async_client.get("/auth/login")
    assert response.status_code == 502
    assert b"idp_unavailable" in response.content


async def test_discovery_down_after_it_was_cached_serves_the_stale_copy(
    async_client, idp, settings
):
    await start(async_client)
    settings.AUTH0_METADATA_TTL = 0
    idp.fail("discovery", "500")
    response = await browser_login(async_client)
    assert response.status_code == 302


async def test_jwks_with_a_malformed_key_is_a_provider_failure(async_client, idp, monkeypatch):
    monkeypatch.setattr(idp, "jwks", lambda: {"keys": [{"kty": "RSA", "kid": "broken"}]})
    response = await browser_login(async_client)
    assert response.status_code == 502, response.content
    assert b"idp_unavailable" in response.content
    assert not await User.objects.aexists()
