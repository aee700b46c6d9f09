"""Signing keys: algorithms, encryption at rest, rotation and the published key set."""

import base64
import io
import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import keys
from accounts.models import RefreshToken, SigningKey
from accounts.tokens import access as access_tokens
from accounts.tokens import base as token_base

from .kit import bearer, issue_pair, post_json

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def kid_of(access_token: str) -> str:
    return json.loads(b64decode(access_token.split(".")[0]))["kid"]


def jwks(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response


def verify_es256_independently(access_token: str, jwk_set: dict) -> dict:
    """Verify with nothing but the published JWKS and `cryptography` (no joserfc, none of
    our code), as one of the platform's applications would."""
    header_b64, payload_b64, signature_b64 = access_token.split(".")
    header = json.loads(b64decode(header_b64))
    jwk = next(key for key in jwk_set["keys"] if key["kid"] == header["kid"])
    assert header["alg"] == jwk["alg"] == "ES256"
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64decode(jwk["x"]), "big"),
        int.from_bytes(b64decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = b64decode(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public_key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(b64decode(payload_b64))


def test_first_token_creates_one_current_es256_key(user):
    assert not SigningKey.objects.exists()
    issue_pair(user)
    issue_pair(user)
    key = SigningKey.objects.get()
    assert key.is_current and key.algorithm == "ES256"
    assert key.public_jwk["crv"] == "P-256"


def test_jwks_publishes_public_members_only_with_cache_headers(client, user):
    pair = issue_pair(user)
    response = jwks(client)
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert len(document["keys"]) == 1
    jwk = document["keys"][0]
    assert jwk["kid"] == kid_of(pair["access_token"])
    assert {"kty", "crv", "x", "y", "kid", "alg", "use"} == set(jwk)
    assert not PRIVATE_MEMBERS & set(jwk)


def test_independent_verifier_accepts_a_token_with_the_jwks(client, user):
    pair = issue_pair(user)
    claims = verify_es256_independently(pair["access_token"], jwks(client).json())
    assert claims["sub"] == str(user.pk)


def test_jwks_refuses_other_methods(client):
    response = client.post("/.well-known/jwks.json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_private_key_is_encrypted_at_rest(user):
    issue_pair(user)
    row = SigningKey.objects.get()
    private_jwk = keys.decrypt_private_key(row.kid, row.private_key_encrypted)
    assert bytes(row.private_key_encrypted)[:1] == b"\x01"
    assert private_jwk["d"].encode() not in bytes(row.private_key_encrypted)
    assert b'"d"' not in bytes(row.private_key_encrypted)
    with pytest.raises(keys.SigningKeyUnavailable):
        keys.decrypt_private_key("another-kid", row.private_key_encrypted)


def test_encryption_key_derives_from_the_dedicated_variable_when_set(settings):
    settings.SIGNING_KEY_ENCRYPTION_KEY = "dedicated-signing-key-secret"
    blob = keys.encrypt_private_key("kid-1", {"kty": "EC"})
    settings.SECRET_KEY = "a-rotated-secret-key-that-does-not-matter-here"
    assert keys.decrypt_private_key("kid-1", blob) == {"kty": "EC"}
    settings.SIGNING_KEY_ENCRYPTION_KEY = None
    with pytest.raises(keys.SigningKeyUnavailable):
        keys.decrypt_private_key("kid-1", blob)


def test_rotated_secret_key_refuses_to_sign_without_spending_then_rotation_recovers(
    client, user, settings
):
    pair = issue_pair(user)
    settings.SECRET_KEY = "a-different-secret-key-so-the-stored-key-is-unreadable"
    keys.clear_caches()
    # Old tokens still verify: public keys are stored in clear.
    assert (
        post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"])).status_code == 503
    )
    response = post_json(client, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert (
        RefreshToken.objects.get(token_hash=token_base.hash_token(pair["refresh_token"])).used_at
        is None
    )
    call_command("rotate_signing_key", stdout=io.StringIO())
    response = post_json(client, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200


def test_rs256_is_supported(client, user, settings):
    settings.SIGNING_KEY_ALGORITHM = "RS256"
    pair = issue_pair(user)
    assert json.loads(b64decode(pair["access_token"].split(".")[0]))["alg"] == "RS256"
    jwk = jwks(client).json()["keys"][0]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256"
    assert not PRIVATE_MEMBERS & set(jwk)
    assert (
        post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"])).status_code == 200
    )


@pytest.mark.parametrize("algorithm", ["HS256", "none", "RS1"])
def test_unsupported_algorithm_is_refused_clearly(db, settings, algorithm):
    settings.SIGNING_KEY_ALGORITHM = algorithm
    with pytest.raises(ImproperlyConfigured, match="SIGNING_KEY_ALGORITHM"):
        keys.new_signing_key()
    with pytest.raises(CommandError, match="not supported"):
        call_command("rotate_signing_key")


def test_rotation_keeps_old_tokens_valid_and_published_until_they_expire(client, user, capsys):
    before = issue_pair(user)
    old_kid = kid_of(before["access_token"])

    call_command("rotate_signing_key")
    assert "stays published until" in capsys.readouterr().out

    after = issue_pair(user)
    new_kid = kid_of(after["access_token"])
    assert new_kid != old_kid
    assert SigningKey.objects.get(is_current=True).kid == new_kid
    published = jwks(client).json()
    assert [key["kid"] for key in published["keys"]] == [new_kid, old_kid]
    for pair in (before, after):
        assert (
            post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"])).status_code
            == 200
        )
        verify_es256_independently(pair["access_token"], published)

    # Once every token the old key signed has expired, it is no longer published and
    # nothing it signed verifies.
    SigningKey.objects.filter(kid=old_kid).update(
        retired_at=timezone.now() - keys.publication_window() - timedelta(seconds=1)
    )
    keys.clear_caches()
    assert [key["kid"] for key in jwks(client).json()["keys"]] == [new_kid]
    response = post_json(client, "/api/v1/auth/token", **bearer(before["access_token"]))
    assert response.status_code == 401
    assert (
        post_json(client, "/api/v1/auth/token", **bearer(after["access_token"])).status_code == 200
    )


def test_retired_key_window_is_access_token_lifetime_plus_leeway(db, settings):
    settings.ACCESS_TOKEN_TTL = 600
    assert keys.publication_window() == timedelta(seconds=600 + keys.PUBLISH_LEEWAY)
    assert keys.PUBLISH_LEEWAY >= keys.SNAPSHOT_TTL + keys.PROCESS_MEMO + access_tokens.CLOCK_LEEWAY


def test_signing_follows_a_rotation_made_by_another_process(client, user):
    first = issue_pair(user)
    # Another process rotates: the database changes, this process's shared-cache
    # snapshot does not until it expires (SNAPSHOT_TTL) or is deleted.
    new = keys.new_signing_key()
    SigningKey.objects.filter(is_current=True).update(is_current=False, retired_at=timezone.now())
    new.is_current = True
    new.save()
    assert kid_of(issue_pair(user)["access_token"]) == kid_of(first["access_token"])
    cache.delete(keys.SNAPSHOT_CACHE_KEY)
    time.sleep(keys.PROCESS_MEMO)  # this process reuses the snapshot it read that long
    assert kid_of(issue_pair(user)["access_token"]) == new.kid


def test_token_signed_by_a_key_newer_than_the_snapshot_is_verified(client, user):
    issue_pair(user)
    new, _ = keys.rotate_signing_key()
    minted_elsewhere = issue_pair(user)
    assert kid_of(minted_elsewhere["access_token"]) == new.kid
    # Put back a snapshot that predates the rotation, as another server would hold.
    cache.set(
        keys.SNAPSHOT_CACHE_KEY,
        {"loaded_at": 0, "current": None, "keys": {}},
        keys.SNAPSHOT_TTL,
    )
    response = post_json(client, "/api/v1/auth/token", **bearer(minted_elsewhere["access_token"]))
    assert response.status_code == 200
