"""One named test per relying-party check of the ID token. Each hostile token is
served by the provider at its real token endpoint, so it travels the real path; each
must end on the error page with no session and no user."""

import time

import pytest

from accounts.models import User
from tests.logins import browser_login, replace_claims

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_refused(async_client, code=b"invalid_id_token", status=400):
    response = await browser_login(async_client, sub="auth0|alice")
    assert response.status_code == status, response.content
    assert code in response.content
    assert "sessionid" not in response.cookies
    assert not await User.objects.filter(email="alice@acme.example").aexists()
    assert (await async_client.get("/api/v1/auth/me")).status_code == 401
    return response


async def test_invalid_iss(async_client, idp):
    idp.id_token_hook = replace_claims(iss="https://evil.example/")
    await assert_refused(async_client)


async def test_iss_without_trailing_slash_is_not_the_issuer(async_client, idp):
    idp.id_token_hook = replace_claims(iss=idp.issuer.rstrip("/"))
    await assert_refused(async_client)


async def test_missing_sub(async_client, idp):
    idp.id_token_hook = replace_claims(sub=None)
    await assert_refused(async_client)


async def test_invalid_aud(async_client, idp):
    idp.id_token_hook = replace_claims(aud="another-client")
    await assert_refused(async_client)


async def test_several_audiences_without_our_azp(async_client, idp):
    idp.id_token_hook = replace_claims(aud=["test-client", "other"], azp="other")
    await assert_refused(async_client)


async def test_several_audiences_with_our_azp_are_accepted(async_client, idp):
    idp.id_token_hook = replace_claims(aud=["test-client", "other"], azp="test-client")
    response = await browser_login(async_client)
    assert response.status_code == 302


async def test_missing_iat(async_client, idp):
    idp.id_token_hook = replace_claims(iat=None)
    await assert_refused(async_client)


async def test_iat_in_the_future(async_client, idp):
    idp.id_token_hook = replace_claims(iat=int(time.time()) + 3600)
    await assert_refused(async_client)


async def test_iat_long_ago(async_client, idp):
    idp.id_token_hook = replace_claims(iat=int(time.time()) - 3600)
    await assert_refused(async_client)


async def test_expired(async_client, idp):
    now = int(time.time())
    idp.id_token_hook = replace_claims(iat=now - 400, exp=now - 300)
    await assert_refused(async_client)


async def test_nonce_mismatch(async_client, idp):
    idp.id_token_hook = replace_claims(nonce="not-the-nonce-we-sent")
    await assert_refused(async_client)


async def test_missing_nonce(async_client, idp):
    idp.id_token_hook = replace_claims(nonce=None)
    await assert_refused(async_client)


async def test_alg_none(async_client, idp):
    idp.id_token_hook = lambda claims, header: idp.unsigned(claims)
    await assert_refused(async_client)


async def test_invalid_signature(async_client, idp):
    def tamper(claims, header):
        token = idp.sign(claims)
        head, payload, signature = token.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        return f"{head}.{payload}.{flipped}"

    idp.id_token_hook = tamper
    await assert_refused(async_client)


async def test_signed_by_a_key_the_provider_does_not_publish(async_client, idp):
    foreign = idp.foreign_key()
    idp.id_token_hook = lambda claims, header: idp.sign(claims, key=foreign)
    await assert_refused(async_client)


async def test_hs256_signed_with_the_public_key(async_client, idp):
    idp.id_token_hook = lambda claims, header: idp.sign_hs256_with_public_key(claims)
    await assert_refused(async_client)


async def test_kid_absent_with_one_key_is_accepted(async_client, idp):
    idp.id_token_hook = lambda claims, header: idp.sign(claims, header={"kid": None})
    response = await browser_login(async_client)
    assert response.status_code == 302


async def test_kid_absent_with_several_keys(async_client, idp):
    idp.rotate_keys(keep_old=True)
    idp.id_token_hook = lambda claims, header: idp.sign(claims, header={"kid": None})
    await assert_refused(async_client)


async def test_signing_key_rotation_between_two_logins(async_client, idp):
    first = await browser_login(async_client, sub="auth0|alice")
    assert first.status_code == 302
    jwks_fetches = idp.requests[("GET", "/.well-known/jwks.json")]
    idp.rotate_keys(keep_old=False)
    second = await browser_login(async_client, sub="auth0|bob")
    assert second.status_code == 302
    # the unknown kid caused exactly one refetch
    assert idp.requests[("GET", "/.well-known/jwks.json")] == jwks_fetches + 1


async def test_a_rotation_another_process_fetched_is_read_from_the_shared_cache(async_client, idp):
    """This process's copy of the key set predates the rotation; another process already
    refetched it (the shared entry and the refetch throttle are its): the login finds
    the new key in the shared cache, with no fetch of its own."""
    from django.core.cache import cache

    from accounts.login.oidc import metadata

    assert (await browser_login(async_client, sub="auth0|alice")).status_code == 302
    jwks_fetches = idp.requests[("GET", "/.well-known/jwks.json")]
    idp.rotate_keys(keep_old=False)
    shared = {"value": idp.jwks(), "fetched_at": time.time()}
    await cache.aset(metadata._key("jwks", idp.issuer), shared, metadata.KEEP_STALE_FOR)
    await cache.aadd(metadata._key("jwks-refetch", idp.issuer), True, 30)
    assert (await browser_login(async_client, sub="auth0|bob")).status_code == 302
    assert idp.requests[("GET", "/.well-known/jwks.json")] == jwks_fetches


async def test_the_keys_are_parsed_once_per_fetch_and_again_after_a_rotation(async_client, idp):
    from accounts.login.oidc import metadata

    assert (await browser_login(async_client, sub="auth0|alice")).status_code == 302
    document = await metadata.discovery()
    first = await metadata.key_set_for(None, document)
    assert await metadata.key_set_for(None, document) is first
    idp.rotate_keys(keep_old=False)
    assert (await browser_login(async_client, sub="auth0|bob")).status_code == 302
    rotated = await metadata.key_set_for(None, document)
    assert rotated is not first
    assert {key.kid for key in rotated.keys} == {key["kid"] for key in idp.jwks()["keys"]}


async def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once(async_client, idp):
    foreign = idp.foreign_key()
    idp.id_token_hook = lambda claims, header: idp.sign(claims, key=foreign)
    for _ in range(5):
        await assert_refused(async_client)
    assert idp.requests[("GET", "/.well-known/jwks.json")] <= 2


async def test_not_before_in_the_future(async_client, idp):
    idp.id_token_hook = replace_claims(nbf=int(time.time()) + 3600)
    await assert_refused(async_client)


async def test_a_key_embedded_in_the_header_is_not_trusted(async_client, idp):
    """`jwk`/`jku` headers name the attacker's key: only the provider's JWKS counts."""
    attacker = idp.foreign_key()
    idp.id_token_hook = lambda claims, header: idp.sign(
        claims,
        header={"jwk": attacker.as_dict(private=False), "jku": "https://evil.example/jwks"},
        key=attacker,
    )
    await assert_refused(async_client)
