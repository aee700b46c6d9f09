"""POST /api/v1/auth/token with a DPoP proof: a new family is bound to the proof's key,
its access token carries cnf.jkt and the answer says token_type DPoP; a pair minted from
an access token keeps that token's family's binding."""

import pytest

from accounts.models import HandoffCode, TokenFamily
from tests.asgi_client import sync_client_class

from .kit import (
    FRONTEND_HEADERS,
    ME,
    REFRESH,
    TOKEN,
    assert_dpop_refusal,
    claims_of,
    family_of,
    post,
    redeem,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_handoff_redeemed_with_a_proof_is_bound_to_its_key(code, verifier, key):
    response = redeem(code, verifier, key.proof("POST", TOKEN))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    assert family_of(body["refresh_token"]).dpop_jkt == key.jkt


def test_a_handoff_redeemed_without_a_proof_is_bearer_and_unbound(code, verifier):
    body = redeem(code, verifier).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])
    assert family_of(body["refresh_token"]).dpop_jkt == ""


def test_a_handoff_with_a_bad_proof_is_refused_and_the_code_stays_usable(
    code, verifier, key, thief_key
):
    forged = key.sign(key.header(), key.claims("POST", TOKEN))[:-4] + "AAAA"
    assert_dpop_refusal(redeem(code, verifier, forged))
    assert HandoffCode.objects.get().used_at is None
    assert not TokenFamily.objects.exists()
    assert redeem(code, verifier, key.proof("POST", TOKEN)).json()["token_type"] == "DPoP"


def test_a_session_caller_with_a_proof_gets_a_bound_family_and_cookie(user, key):
    client = sync_client_class()()
    client.force_login(user)
    response = post(client, TOKEN, proof=key.proof("POST", TOKEN), **FRONTEND_HEADERS)
    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"
    assert family_of(response.json()["refresh_token"]).dpop_jkt == key.jkt
    # The cookie's refresh needs the key too; refused, it keeps the cookie.
    refused = post(client, REFRESH, **FRONTEND_HEADERS)
    assert_dpop_refusal(refused)
    assert "refresh_token" not in refused.cookies
    rotated = post(client, REFRESH, proof=key.proof("POST", REFRESH), **FRONTEND_HEADERS)
    assert rotated.status_code == 200
    assert rotated.json()["token_type"] == "DPoP"


def bound_pair(code, verifier, key) -> dict:
    return redeem(code, verifier, key.proof("POST", TOKEN)).json()


def test_a_bound_caller_s_new_pair_is_in_its_family_bound_to_the_same_key(code, verifier, key):
    pair = bound_pair(code, verifier, key)
    access = pair["access_token"]
    response = post(
        sync_client_class()(),
        TOKEN,
        proof=key.proof("POST", TOKEN, access_token=access),
        HTTP_AUTHORIZATION=f"DPoP {access}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    assert family_of(body["refresh_token"]) == family_of(pair["refresh_token"])


def test_an_unbound_caller_s_family_stays_unbound_whatever_its_proof(code, verifier, key):
    """A family's binding never changes: a proof does not bind a Bearer family."""
    pair = redeem(code, verifier).json()
    access = pair["access_token"]
    response = post(
        sync_client_class()(),
        TOKEN,
        proof=key.proof("POST", TOKEN, access_token=access),
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert family_of(response.json()["refresh_token"]).dpop_jkt == ""


def test_the_bound_access_token_reads_me_with_a_proof(code, verifier, key):
    access = bound_pair(code, verifier, key)["access_token"]
    response = sync_client_class()().get(
        ME,
        HTTP_AUTHORIZATION=f"DPoP {access}",
        HTTP_DPOP=key.proof("GET", ME, access_token=access),
    )
    assert response.status_code == 200, response.content
