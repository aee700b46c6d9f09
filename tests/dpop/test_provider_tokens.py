"""The identity provider's access tokens (AUTH0_AUDIENCE) are not DPoP-bound here:
they keep working as Bearer; under the DPoP scheme, or bound to a key of the provider's
client (``cnf``), they are refused. With a proof, ``/token`` binds the pair it mints
from one to the proof's key."""

import time

import pytest

from accounts.models import User

from .kit import ME, TOKEN, claims_of, family_of, post

pytestmark = pytest.mark.django_db(transaction=True)
AUDIENCE = "https://api.example"


@pytest.fixture
def audience(idp, settings):
    settings.AUTH0_AUDIENCE = AUDIENCE


def provider_token(idp, **claims):
    now = int(time.time())
    return idp.sign(
        {
            "iss": idp.issuer,
            "sub": "auth0|api-caller",
            "aud": [AUDIENCE],
            "azp": "test-client",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
    )


def test_a_provider_token_keeps_working_as_bearer(client, idp, audience):
    response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {provider_token(idp)}")
    assert response.status_code == 200, response.content


def test_a_provider_token_under_the_dpop_scheme_is_refused(client, idp, audience, key):
    token = provider_token(idp)
    proof = key.proof("GET", ME, access_token=token)
    response = client.get(ME, HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    assert not User.objects.exists()


def test_a_provider_token_bound_to_a_key_is_not_accepted_as_bearer(client, idp, audience, key):
    token = provider_token(idp, cnf={"jkt": key.jkt})
    response = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert not User.objects.exists()


def test_token_binds_the_pair_it_mints_from_a_provider_token(client, idp, audience, key):
    token = provider_token(idp)
    proof = key.proof("POST", TOKEN, access_token=token)
    response = post(client, TOKEN, proof=proof, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}
    assert family_of(response.json()["refresh_token"]).dpop_jkt == key.jkt
