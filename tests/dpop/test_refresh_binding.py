"""POST /api/v1/auth/refresh of a family bound to a DPoP key: only with a proof by that
key. Refused, nothing is spent, written or revoked, and reuse detection is not tripped:
the holder of the key still rotates the same token once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import RefreshToken
from accounts.tokens.base import hash_token

from .kit import REFRESH, Key, assert_dpop_refusal, claims_of, family_of, issue, post, written

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(client, pair, proof=None):
    return post(client, REFRESH, {"refresh_token": pair["refresh_token"]}, proof=proof)


def unspent(pair) -> bool:
    return RefreshToken.objects.get(token_hash=hash_token(pair["refresh_token"])).used_at is None


def test_a_bound_family_rotates_with_a_proof_by_its_key(client, user, key):
    pair = issue(user, key)
    response = refresh(client, pair, key.proof("POST", REFRESH))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    assert family_of(body["refresh_token"]) == family_of(pair["refresh_token"])
    assert not unspent(pair)


def test_an_eddsa_key_binds_and_rotates_too(client, user):
    key = Key("Ed25519")
    response = refresh(client, issue(user, key), key.proof("POST", REFRESH))
    assert response.status_code == 200, response.content
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}


def test_a_bound_refresh_without_a_proof_is_refused_and_spends_nothing(client, user, key):
    pair = issue(user, key)
    before = written()
    assert_dpop_refusal(refresh(client, pair))
    assert written() == before
    assert unspent(pair)
    assert refresh(client, pair, key.proof("POST", REFRESH)).status_code == 200


def test_a_stolen_bound_token_with_the_thief_s_own_key_is_refused(client, user, key, thief_key):
    """The thief makes a perfectly valid proof, with a key of their own."""
    pair = issue(user, key)
    before = written()
    assert_dpop_refusal(refresh(client, pair, thief_key.proof("POST", REFRESH)))
    assert written() == before
    assert refresh(client, pair, key.proof("POST", REFRESH)).status_code == 200


def test_a_bound_token_replayed_without_the_key_after_the_grace_trips_no_reuse_detection(
    client, user, key
):
    """A spent token presented again after the grace revokes its family, but not when
    the request cannot prove the key: a thief cannot log the holder out."""
    pair = issue(user, key)
    successor = refresh(client, pair, key.proof("POST", REFRESH)).json()
    RefreshToken.objects.filter(token_hash=hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(seconds=settings.REFRESH_REUSE_GRACE + 1)
    )
    before = written()
    assert_dpop_refusal(refresh(client, pair))
    assert written() == before
    assert family_of(pair["refresh_token"]).revoked_at is None
    assert refresh(client, successor, key.proof("POST", REFRESH)).status_code == 200


def test_the_holder_of_the_key_replaying_a_spent_token_after_the_grace_still_trips_it(
    client, user, key
):
    pair = issue(user, key)
    assert refresh(client, pair, key.proof("POST", REFRESH)).status_code == 200
    RefreshToken.objects.filter(token_hash=hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(seconds=settings.REFRESH_REUSE_GRACE + 1)
    )
    response = refresh(client, pair, key.proof("POST", REFRESH))
    assert response.status_code == 401
    assert response.json()["error"] == "token_reused"
    assert family_of(pair["refresh_token"]).revoked_at is not None


def test_an_unbound_family_refreshed_with_a_proof_stays_unbound(client, user, key):
    """A family's binding never changes (RFC 9449 §5 lets a server keep an unbound
    refresh token unbound): the proof is verified, then the answer is Bearer."""
    pair = issue(user)
    response = refresh(client, pair, key.proof("POST", REFRESH))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])
    assert family_of(body["refresh_token"]).dpop_jkt == ""


def test_an_unbound_family_refreshed_with_a_bad_proof_is_refused(client, user, key):
    pair = issue(user)
    assert_dpop_refusal(refresh(client, pair, key.proof("POST", REFRESH, htm="GET")))
    assert unspent(pair)
