"""The token endpoints driven from async code with the async test client, against
committed data: any sync database access on the path would raise
SynchronousOnlyOperation here."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import TokenFamily
from accounts.tokens import refresh as refresh_tokens
from tests.tokens.kit import aissue_token_pair

pytestmark = pytest.mark.django_db(transaction=True)


async def test_mint_refresh_revoke_and_jwks_from_async_code(user, new_browser):
    client = new_browser()
    pair = await aissue_token_pair(user, issuer="http://testserver", session_key="s")

    minted = await client.post(
        "/api/v1/auth/token",
        data="",
        content_type="application/json",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert minted.status_code == 200

    refreshed = await client.post(
        "/api/v1/auth/refresh",
        data={"refresh_token": minted.json()["refresh_token"]},
        content_type="application/json",
    )
    assert refreshed.status_code == 200

    revoked = await client.post(
        "/api/v1/auth/revoke",
        data={"refresh_token": refreshed.json()["refresh_token"]},
        content_type="application/json",
    )
    assert revoked.status_code == 200

    refused = await client.post(
        "/api/v1/auth/token",
        data="",
        content_type="application/json",
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )
    assert refused.status_code == 401

    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.json()["keys"]


async def test_logout_helpers_from_async_code(user):
    await aissue_token_pair(user, issuer="http://testserver", session_key="s1")
    await aissue_token_pair(user, issuer="http://testserver", session_key="s2")
    revoke_session_families = sync_to_async(refresh_tokens.revoke_session_families)
    assert await revoke_session_families("s1", "logout") == 1
    assert await revoke_session_families("s1", "logout") == 0
    assert await sync_to_async(refresh_tokens.revoke_user_families)(user, "admin") == 1
    assert await TokenFamily.objects.filter(revoked_at__isnull=True).acount() == 0
