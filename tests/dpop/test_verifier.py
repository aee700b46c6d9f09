"""The proof verifier's own rules (accounts/tokens/dpop.py): what htu compares, the
algorithms it takes, its nonces. Every check against a running endpoint is in
test_proof_checks.py."""

import pytest

from accounts.tokens import dpop
from accounts.tokens.base import TokenError

from .kit import Key

URL = "http://testserver/api/v1/auth/refresh"


@pytest.mark.parametrize("kind", ["ES256", "ES384", "Ed25519"])
def test_a_proof_by_each_allowed_algorithm_verifies_to_its_key_s_thumbprint(kind):
    key = Key(kind)
    proof = dpop.verify_proof(key.proof("POST", URL), method="POST", url=URL)
    assert proof.jkt == key.jkt


def test_the_thumbprint_is_rfc_7638_s():
    """RFC 7638 §3.1's example key and its thumbprint."""
    from joserfc import jwk

    example = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJ"
        "zKnqDKgw",
        "e": "AQAB",
    }
    assert jwk.import_key(example).thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    "htu",
    [
        "http://testserver/api/v1/auth/refresh",
        "HTTP://TESTSERVER/api/v1/auth/refresh",
        "http://testserver:80/api/v1/auth/refresh",
        "http://testserver/api/v1/auth/refresh?x=1#fragment",
    ],
)
def test_htu_is_compared_normalised(htu):
    assert dpop.normalised_url(htu) == dpop.normalised_url(URL)


@pytest.mark.parametrize(
    "htu",
    [
        "https://testserver/api/v1/auth/refresh",
        "http://testserver:8000/api/v1/auth/refresh",
        "http://other.example/api/v1/auth/refresh",
        "http://testserver/api/v1/auth/refresh/",
        "http://testserver/API/v1/auth/refresh",
        "http://user@testserver/api/v1/auth/refresh",
        "ftp://testserver/api/v1/auth/refresh",
        "http://testserver:99999/api/v1/auth/refresh",
        "/api/v1/auth/refresh",
    ],
)
def test_htu_differs_in_scheme_host_port_path_or_is_no_http_url(htu):
    assert dpop.normalised_url(htu) != dpop.normalised_url(URL)


def test_ipv6_hosts_keep_their_brackets():
    assert dpop.normalised_url("http://[::1]:8000/x") == "http://[::1]:8000/x"


def test_a_nonce_lives_for_its_step_and_the_next():
    made = 1_000_000 * dpop.NONCE_STEP + 1
    nonce = dpop.new_nonce(made)
    assert dpop.is_live_nonce(nonce, made)
    assert dpop.is_live_nonce(nonce, made + dpop.NONCE_STEP)
    assert not dpop.is_live_nonce(nonce, made + 2 * dpop.NONCE_STEP)
    assert not dpop.is_live_nonce(nonce, made - dpop.NONCE_STEP)
    assert not dpop.is_live_nonce(None, made)


def test_nonces_are_keyed_by_the_secret_key(settings):
    made = 1_000_000 * dpop.NONCE_STEP
    nonce = dpop.new_nonce(made)
    settings.SECRET_KEY = "another-secret-key-0123456789-0123456789-0123456789"
    assert not dpop.is_live_nonce(nonce, made)


def test_a_good_proof_without_the_required_nonce_asks_for_one():
    with pytest.raises(TokenError) as refused:
        dpop.verify_proof(Key().proof("POST", URL), method="POST", url=URL, nonce_required=True)
    assert refused.value.error == "use_dpop_nonce"


def test_a_bad_proof_without_the_nonce_is_invalid_not_asked_for_a_nonce():
    proof = Key().proof("POST", URL, htm="GET")
    with pytest.raises(TokenError) as refused:
        dpop.verify_proof(proof, method="POST", url=URL, nonce_required=True)
    assert refused.value.error == "invalid_dpop_proof"
