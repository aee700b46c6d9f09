"""The resource endpoints with DPoP (RFC 9449 §7): a bound access token is used as
``Authorization: DPoP <token>`` with a proof carrying its hash (``ath``) by the key it
is bound to; as Bearer it is refused. An unbound token is not accepted as DPoP, and
keeps working as Bearer."""

import pytest

from accounts.models import TokenFamily

from .kit import Key, assert_dpop_refusal, family_of, issue

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = {
    "me": ("GET", "/api/v1/auth/me", 200),
    "features": ("GET", "/api/v1/features", 200),
    "applications": ("GET", "/api/v1/applications", 200),
    "sessions": ("GET", "/api/v1/auth/sessions", 200),
    "end the others": ("DELETE", "/api/v1/auth/sessions", 200),
    "end one": ("DELETE", "/api/v1/auth/sessions/token-{other}", 204),
    "logout": ("POST", "/auth/logout", 200),
}


def call(client, method, path, access, *, scheme="DPoP", proof=None):
    extra = {"HTTP_AUTHORIZATION": f"{scheme} {access}"}
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return getattr(client, method.lower())(path, **extra)


@pytest.fixture
def other(user):
    """Another family of the caller, for the DELETE of one session."""
    return family_of(issue(user)["refresh_token"]).pk


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_bound_token_with_its_proof_is_served_everywhere(client, user, key, other, endpoint, idp):
    method, path, status = ENDPOINTS[endpoint]
    path = path.format(other=other)
    access = issue(user, key)["access_token"]
    proof = key.proof(method, path, access_token=access)
    assert call(client, method, path, access, proof=proof).status_code == status


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_bound_token_as_bearer_is_refused_everywhere(client, user, key, other, endpoint):
    """Even with its proof alongside: the scheme says how the token must be checked."""
    method, path, _ = ENDPOINTS[endpoint]
    path = path.format(other=other)
    access = issue(user, key)["access_token"]
    proof = key.proof(method, path, access_token=access)
    assert_dpop_refusal(call(client, method, path, access, scheme="Bearer", proof=proof))
    assert_dpop_refusal(call(client, method, path, access, scheme="Bearer"))
    assert TokenFamily.objects.filter(revoked_at__isnull=False).count() == 0


def test_a_bound_token_without_a_proof_is_refused(client, user, key):
    access = issue(user, key)["access_token"]
    assert_dpop_refusal(call(client, "GET", "/api/v1/auth/me", access))


def test_a_proof_for_another_endpoint_is_refused(client, user, key):
    access = issue(user, key)["access_token"]
    proof = key.proof("GET", "/api/v1/features", access_token=access)
    assert_dpop_refusal(call(client, "GET", "/api/v1/auth/me", access, proof=proof))


def test_an_unbound_token_as_dpop_is_refused(client, user, key):
    access = issue(user)["access_token"]
    proof = key.proof("GET", "/api/v1/auth/me", access_token=access)
    response = call(client, "GET", "/api/v1/auth/me", access, proof=proof)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_an_unbound_token_keeps_working_as_bearer(client, user):
    access = issue(user)["access_token"]
    response = call(client, "GET", "/api/v1/auth/me", access, scheme="Bearer")
    assert response.status_code == 200
    assert "DPoP-Nonce" not in response


def test_the_scheme_is_case_insensitive(client, user, key):
    access = issue(user, key)["access_token"]
    proof = key.proof("GET", "/api/v1/auth/me", access_token=access)
    response = call(client, "GET", "/api/v1/auth/me", access, scheme="dpop", proof=proof)
    assert response.status_code == 200


def test_a_refused_dpop_token_is_answered_with_the_dpop_challenge(client, user, key):
    """An expired or revoked bound token: invalid_token, challenged as DPoP."""
    pair = issue(user, key)
    TokenFamily.objects.update(revoked_at="2026-01-01T00:00:00Z")
    access = pair["access_token"]
    proof = key.proof("GET", "/api/v1/auth/me", access_token=access)
    response = call(client, "GET", "/api/v1/auth/me", access, proof=proof)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_token", algs="ES256')


def test_a_thief_key_cannot_use_a_stolen_bound_token_anywhere(client, user, key, other):
    thief = Key()
    access = issue(user, key)["access_token"]
    for method, path, _ in ENDPOINTS.values():
        path = path.format(other=other)
        proof = thief.proof(method, path, access_token=access)
        assert_dpop_refusal(call(client, method, path, access, proof=proof))
    assert TokenFamily.objects.filter(revoked_at__isnull=False).count() == 0
