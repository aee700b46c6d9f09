"""Server-provided nonces (RFC 9449 §8, §9) behind DPOP_NONCE: a proof without a live
nonce of this server is answered 401 ``use_dpop_nonce`` with a fresh ``DPoP-Nonce``,
nothing spent; the client signs again with it. Every answer to a request with a DPoP
header carries a fresh nonce."""

import time

import pytest

from accounts.tokens import dpop

from .kit import ME, REFRESH, assert_dpop_refusal, issue, post, written

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nonces(settings):
    settings.DPOP_NONCE = True


def refresh(client, pair, proof):
    return post(client, REFRESH, {"refresh_token": pair["refresh_token"]}, proof=proof)


def test_a_proof_without_a_nonce_is_asked_for_one_then_accepted(nonces, client, user, key):
    pair = issue(user, key)
    before = written()
    asked = refresh(client, pair, key.proof("POST", REFRESH))
    assert_dpop_refusal(asked, "use_dpop_nonce")
    assert written() == before
    nonce = asked["DPoP-Nonce"]
    response = refresh(client, pair, key.proof("POST", REFRESH, nonce=nonce))
    assert response.status_code == 200
    assert dpop.is_live_nonce(response["DPoP-Nonce"], time.time())


def test_a_stale_nonce_is_answered_with_a_fresh_one(nonces, client, user, key):
    stale = dpop.new_nonce(time.time() - 2 * dpop.NONCE_STEP)
    response = refresh(client, issue(user, key), key.proof("POST", REFRESH, nonce=stale))
    assert_dpop_refusal(response, "use_dpop_nonce")
    assert response["DPoP-Nonce"] != stale


def test_a_nonce_of_the_step_before_is_still_accepted(nonces, client, user, key):
    previous = dpop.new_nonce(time.time() - dpop.NONCE_STEP)
    response = refresh(client, issue(user, key), key.proof("POST", REFRESH, nonce=previous))
    assert response.status_code == 200


def test_a_made_up_nonce_is_refused(nonces, client, user, key):
    response = refresh(client, issue(user, key), key.proof("POST", REFRESH, nonce="guess"))
    assert_dpop_refusal(response, "use_dpop_nonce")


def test_a_bad_proof_is_invalid_whatever_its_nonce(nonces, client, user, key):
    response = refresh(client, issue(user, key), key.proof("GET", REFRESH))
    assert_dpop_refusal(response)
    assert "DPoP-Nonce" in response


def test_resource_endpoints_ask_for_a_nonce_too(nonces, client, user, key):
    access = issue(user, key)["access_token"]
    authorization = f"DPoP {access}"
    asked = client.get(
        ME, HTTP_AUTHORIZATION=authorization, HTTP_DPOP=key.proof("GET", ME, access_token=access)
    )
    assert_dpop_refusal(asked, "use_dpop_nonce")
    proof = key.proof("GET", ME, access_token=access, nonce=asked["DPoP-Nonce"])
    response = client.get(ME, HTTP_AUTHORIZATION=authorization, HTTP_DPOP=proof)
    assert response.status_code == 200
    assert "DPoP-Nonce" in response


def test_without_dpop_nonce_no_nonce_is_asked_for_nor_sent(client, user, key):
    response = refresh(client, issue(user, key), key.proof("POST", REFRESH))
    assert response.status_code == 200
    assert "DPoP-Nonce" not in response
