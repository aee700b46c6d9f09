"""Every check of RFC 9449 §4.3, one named test each, forged as an attacker would and
sent to a running endpoint: the refresh of a family bound to the web app's key (a
stolen refresh token, the proof made by whoever holds it), or GET /me with a bound
access token (``ath`` and the key's thumbprint). Each refusal is 401
``invalid_dpop_proof`` with the DPoP challenge, and nothing is spent: the token still
rotates once with the web app's own proof."""

import base64
import json
import time

import httpx2
import pytest
from asgiref.sync import async_to_sync
from joserfc import jwk, jws

from accounts.models import RefreshToken
from accounts.tokens.base import hash_token
from accounts.tokens.dpop import PROOF_MAX_AGE, PROOF_MAX_AHEAD
from authsite.asgi import django_application

from .kit import ME, REFRESH, assert_dpop_refusal, b64, issue, post, unsigned, written

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(user, key):
    return issue(user, key)


def refresh(client, pair, proof):
    return post(client, REFRESH, {"refresh_token": pair["refresh_token"]}, proof=proof)


def assert_refused_and_unspent(client, pair, key, proof):
    """The forged proof is refused; the token is unspent and still rotates."""
    before = written()
    assert_dpop_refusal(refresh(client, pair, proof))
    assert written() == before
    assert refresh(client, pair, key.proof("POST", REFRESH)).status_code == 200


# --- the JWT and its header ------------------------------------------------------------


@pytest.mark.parametrize("typ", ["jwt", "JWT", "DPOP+JWT", "at+jwt", None])
def test_proof_with_wrong_typ_is_refused(client, pair, key, typ):
    header = key.header(typ=typ)
    assert_refused_and_unspent(client, pair, key, key.sign(header, key.claims("POST", REFRESH)))


def test_proof_with_alg_none_is_refused(client, pair, key):
    forged = unsigned(key.header(alg="none"), key.claims("POST", REFRESH))
    assert_refused_and_unspent(client, pair, key, forged)


def test_proof_with_hs256_is_refused(client, pair, key):
    """A symmetric key the attacker picks and puts in the header."""
    secret = jwk.OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_dict(private=True)}
    claims = json.dumps(key.claims("POST", REFRESH))
    forged = jws.serialize_compact(header, claims, secret, algorithms=["HS256"])
    assert_refused_and_unspent(client, pair, key, forged)


def test_proof_with_an_asymmetric_alg_outside_the_allow_list_is_refused(client, pair, key):
    rsa = jwk.RSAKey.generate_key(2048)
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.as_dict(private=False)}
    claims = json.dumps(key.claims("POST", REFRESH))
    forged = jws.serialize_compact(header, claims, rsa, algorithms=["RS256"])
    assert_refused_and_unspent(client, pair, key, forged)


def test_proof_with_bad_signature_is_refused(client, pair, key):
    good = key.proof("POST", REFRESH)
    head, payload, signature = good.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[10] ^= 1
    assert_refused_and_unspent(client, pair, key, f"{head}.{payload}.{b64(bytes(flipped))}")


def test_proof_whose_claims_were_changed_after_signing_is_refused(client, pair, key):
    head, _, signature = key.proof("POST", "/api/v1/auth/token").split(".")
    payload = b64(json.dumps(key.claims("POST", REFRESH)).encode())
    assert_refused_and_unspent(client, pair, key, f"{head}.{payload}.{signature}")


def test_proof_signed_by_another_key_than_its_jwk_is_refused(client, pair, key, thief_key):
    """The thief names the web app's public key and signs with their own."""
    forged = thief_key.sign(key.header(), key.claims("POST", REFRESH))
    assert_refused_and_unspent(client, pair, key, forged)


def test_proof_with_private_key_in_jwk_is_refused(client, pair, key):
    header = key.header(jwk=key.private.as_dict(private=True))
    assert_refused_and_unspent(client, pair, key, key.sign(header, key.claims("POST", REFRESH)))


def test_proof_without_jwk_is_refused(client, pair, key):
    header = key.header(jwk=None)
    assert_refused_and_unspent(client, pair, key, key.sign(header, key.claims("POST", REFRESH)))


def test_proof_that_is_not_a_jwt_is_refused(client, pair, key):
    for garbage in ("", "not-a-jwt", "a.b.c", "é.é.é"):
        assert_dpop_refusal(refresh(client, pair, garbage))
    assert refresh(client, pair, key.proof("POST", REFRESH)).status_code == 200


def test_oversized_proof_is_refused(client, pair, key):
    forged = key.proof("POST", REFRESH, padding="x" * 3000)
    assert_refused_and_unspent(client, pair, key, forged)


# --- its claims --------------------------------------------------------------------------


def test_proof_with_wrong_htm_is_refused(client, pair, key):
    assert_refused_and_unspent(client, pair, key, key.proof("GET", REFRESH))


@pytest.mark.parametrize(
    "htu",
    [
        "https://testserver/api/v1/auth/refresh",
        "http://evil.example/api/v1/auth/refresh",
        "http://testserver:8080/api/v1/auth/refresh",
        "http://testserver/api/v1/auth/token",
        "http://testserver/api/v1/auth/refresh/",
    ],
    ids=["other scheme", "other host", "other port", "other path", "trailing slash"],
)
def test_proof_with_htu_of_another_scheme_host_port_or_path_is_refused(client, pair, key, htu):
    assert_refused_and_unspent(client, pair, key, key.proof("POST", htu))


def test_proof_without_htu_is_refused(client, pair, key):
    assert_refused_and_unspent(client, pair, key, key.proof("POST", REFRESH, htu=None))


def test_proof_htu_query_and_fragment_are_ignored(client, pair, key):
    proof = key.proof("POST", "HTTP://TestServer:80/api/v1/auth/refresh?a=1#b")
    assert refresh(client, pair, proof).status_code == 200


def test_proof_with_iat_too_old_is_refused(client, pair, key):
    old = int(time.time()) - PROOF_MAX_AGE - 5
    assert_refused_and_unspent(client, pair, key, key.proof("POST", REFRESH, iat=old))


def test_proof_with_iat_in_the_future_is_refused(client, pair, key):
    ahead = int(time.time()) + PROOF_MAX_AHEAD + 60
    assert_refused_and_unspent(client, pair, key, key.proof("POST", REFRESH, iat=ahead))


@pytest.mark.parametrize("iat", [None, "now", True])
def test_proof_without_a_numeric_iat_is_refused(client, pair, key, iat):
    assert_refused_and_unspent(client, pair, key, key.proof("POST", REFRESH, iat=iat))


def test_proof_a_little_old_or_from_a_clock_a_little_ahead_is_accepted(client, user, key):
    now = int(time.time())
    for iat in (now - PROOF_MAX_AGE + 30, now + PROOF_MAX_AHEAD - 5):
        response = refresh(client, issue(user, key), key.proof("POST", REFRESH, iat=iat))
        assert response.status_code == 200


@pytest.mark.parametrize("jti", [None, "", 7])
def test_proof_without_jti_is_refused(client, pair, key, jti):
    assert_refused_and_unspent(client, pair, key, key.proof("POST", REFRESH, jti=jti))


def test_replayed_jti_is_refused(client, pair, key):
    """A proof captured on its way (a log, a proxy) and sent again with the successor."""
    proof = key.proof("POST", REFRESH)
    successor = refresh(client, pair, proof).json()
    before = written()
    assert_dpop_refusal(refresh(client, successor, proof))
    assert written() == before
    assert refresh(client, successor, key.proof("POST", REFRESH)).status_code == 200


def test_replayed_jti_in_a_new_proof_by_the_same_key_is_refused(client, pair, key):
    proof = key.proof("POST", REFRESH)
    successor = refresh(client, pair, proof).json()
    used = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))["jti"]
    again = key.sign(key.header(), key.claims("POST", REFRESH, jti=used))
    assert_refused_and_unspent(client, successor, key, again)


# --- the header, exactly once -------------------------------------------------------------


def test_two_dpop_headers_are_refused(pair, key):
    async def send():
        transport = httpx2.ASGITransport(app=django_application, client=("127.0.0.1", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(
                REFRESH,
                json={"refresh_token": pair["refresh_token"]},
                headers=[
                    ("DPoP", key.proof("POST", REFRESH)),
                    ("DPoP", key.proof("POST", REFRESH)),
                ],
            )

    answer = async_to_sync(send)()
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_dpop_proof"
    stored = RefreshToken.objects.get(token_hash=hash_token(pair["refresh_token"]))
    assert stored.used_at is None


def test_two_proofs_joined_in_one_header_are_refused(client, pair, key):
    joined = f"{key.proof('POST', REFRESH)},{key.proof('POST', REFRESH)}"
    assert_refused_and_unspent(client, pair, key, joined)


# --- with an access token: ath and the thumbprint ---------------------------------------------


def me(client, access, proof):
    return client.get(ME, HTTP_AUTHORIZATION=f"DPoP {access}", HTTP_DPOP=proof)


def test_proof_with_ath_mismatch_is_refused(client, pair, key, user):
    other = issue(user, key)["access_token"]
    assert_dpop_refusal(me(client, pair["access_token"], key.proof("GET", ME, access_token=other)))


def test_proof_without_ath_is_refused_with_an_access_token(client, pair, key):
    assert_dpop_refusal(me(client, pair["access_token"], key.proof("GET", ME)))


def test_thumbprint_differs_from_cnf_jkt_is_refused(client, pair, thief_key):
    """A stolen bound access token, with a perfect proof by the thief's own key."""
    access = pair["access_token"]
    assert_dpop_refusal(me(client, access, thief_key.proof("GET", ME, access_token=access)))


def test_the_bound_access_token_with_its_own_proof_is_accepted(client, pair, key):
    access = pair["access_token"]
    assert me(client, access, key.proof("GET", ME, access_token=access)).status_code == 200
