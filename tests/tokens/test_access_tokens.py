"""App access tokens: what they carry, and every forgery we refuse, both when
authenticate_bearer is called directly and through an endpoint that requires a caller
(POST /api/v1/auth/token with a Bearer token mints a pair only for a valid token)."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from joserfc import jwt
from joserfc.jwk import ECKey

from accounts import keys
from accounts.api.base import ApiError
from accounts.api.bearer import authenticate_bearer
from accounts.models import RefreshToken, TokenFamily
from accounts.tokens import access as access_tokens
from accounts.tokens import refresh as refresh_tokens

from .kit import ISSUER, aissue_token_pair, bearer, issue_pair, post_json


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def authenticate(token):
    principal, _ = async_to_sync(authenticate_bearer)(token)
    return principal


def refusal(token) -> ApiError:
    with pytest.raises(ApiError) as caught:
        authenticate(token)
    return caught.value


def current_signer():
    return async_to_sync(keys.asigner)()


def sign(claims, *, header=None, signer=None):
    signer = signer or current_signer()
    header = (
        {"alg": signer.algorithm, "kid": signer.kid, "typ": "at+jwt"} if header is None else header
    )
    return jwt.encode(header, claims, signer.key, algorithms=[header["alg"]], default_type=None)


@pytest.fixture
def pair(user):
    return issue_pair(user)


@pytest.fixture
def claims(pair):
    return access_tokens.unverified_claims(pair["access_token"])


def test_access_token_carries_the_documented_claims_and_header(user, pair, claims):
    header = json.loads(base64.urlsafe_b64decode(pair["access_token"].split(".")[0] + "=="))
    signer = current_signer()
    assert header == {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ISSUER
    assert claims["sub"] == str(user.pk)
    assert claims["org"] == user.organisation_id
    assert claims["role"] == "viewer"
    assert claims["apps"] == ["tokens-test-tool"]
    assert TokenFamily.objects.filter(pk=claims["fam"], user=user).exists()
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900


def test_valid_token_authenticates_its_user(user, pair, claims):
    principal = authenticate(pair["access_token"])
    assert principal.user == user
    assert principal.via == "bearer"
    assert principal.family_id == claims["fam"]


def test_audience_is_auth0_audience_when_configured(user, settings):
    settings.AUTH0_AUDIENCE = "https://api.example.com"
    access = issue_pair(user)["access_token"]
    assert access_tokens.unverified_claims(access)["aud"] == "https://api.example.com"
    assert authenticate(access).user == user


def test_issuer_is_public_base_url_when_set(user, client, settings, pair):
    settings.PUBLIC_BASE_URL = "https://auth.example.com"
    response = post_json(client, "/api/v1/auth/token", **bearer(issue_pair_at(user, settings)))
    assert response.status_code == 200
    claims = access_tokens.unverified_claims(response.json()["access_token"])
    assert claims["iss"] == "https://auth.example.com"
    # A token minted for another base URL is not ours any more.
    assert refusal(pair["access_token"]).error == "invalid_token"


def issue_pair_at(user, settings):
    return async_to_sync(aissue_token_pair)(user, issuer=settings.PUBLIC_BASE_URL)["access_token"]


def test_bearer_caller_gets_a_pair_in_its_own_family(client, pair, claims):
    response = post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert access_tokens.unverified_claims(body["access_token"])["fam"] == claims["fam"]
    assert RefreshToken.objects.filter(family_id=claims["fam"]).count() == 2
    assert "refresh_token" not in response.cookies


def test_expired_token_within_leeway_is_accepted_beyond_it_refused(user, claims):
    now = int(time.time())
    within = sign({**claims, "iat": now - 920, "exp": now - 10})
    assert authenticate(within).user == user
    beyond = sign({**claims, "iat": now - 1000, "exp": now - 61})
    assert refusal(beyond).error == "invalid_token"


def test_a_token_verified_before_still_expires_on_time(user, claims):
    """Verified tokens are remembered (access_tokens.averify_access_token): a second
    presentation checks the clock again, and is refused once exp and the leeway pass."""
    now = int(time.time())
    last_moment = now - access_tokens.CLOCK_LEEWAY + 2
    token = sign({**claims, "iat": now - 100, "exp": last_moment})
    assert authenticate(token).user == user
    assert authenticate(token).user == user  # the remembered answer
    time.sleep(last_moment + access_tokens.CLOCK_LEEWAY - time.time() + 1.1)
    refused = refusal(token)
    assert (refused.error, refused.detail) == ("invalid_token", "The access token has expired.")


# --- forgeries ------------------------------------------------------------------------


def forge_alg_none(claims):
    header = {"alg": "none", "kid": current_signer().kid, "typ": "at+jwt"}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def forge_hs256_with_public_key(claims):
    signer = current_signer()
    header = {"alg": "HS256", "kid": signer.kid, "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    secret = signer.key.as_pem(private=False)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def forge_unknown_kid(claims):
    attacker = keys.Signer(kid="not-a-published-key", algorithm="ES256", key=ECKey.generate_key())
    return sign(claims, signer=attacker)


def forge_own_key_with_our_kid(claims):
    attacker = keys.Signer(kid=current_signer().kid, algorithm="ES256", key=ECKey.generate_key())
    return sign(claims, signer=attacker)


def forge_wrong_aud(claims):
    return sign({**claims, "aud": "https://another-api.example"})


def forge_wrong_iss(claims):
    return sign({**claims, "iss": "https://evil.example", "aud": "https://evil.example"})


def forge_expired(claims):
    now = int(time.time())
    return sign({**claims, "iat": now - 3600, "exp": now - 2700})


def forge_issued_in_the_future(claims):
    now = int(time.time())
    return sign({**claims, "iat": now + 600, "exp": now + 1500})


def forge_tampered_payload(claims):
    header, _, signature = sign(claims).split(".")
    escalated = {**claims, "role": "super_admin"}
    return f"{header}.{b64(json.dumps(escalated).encode())}.{signature}"


def forge_missing_typ(claims):
    signer = current_signer()
    return sign(claims, header={"alg": signer.algorithm, "kid": signer.kid})


def forge_plain_jwt_typ(claims):
    signer = current_signer()
    return sign(claims, header={"alg": signer.algorithm, "kid": signer.kid, "typ": "JWT"})


def forge_without_family(claims):
    return sign({key: value for key, value in claims.items() if key != "fam"})


def forge_other_users_family(claims):
    return sign({**claims, "sub": str(int(claims["sub"]) + 1000)})


def forge_garbage(claims):
    return "not.a.jwt"


FORGERIES = [
    forge_alg_none,
    forge_hs256_with_public_key,
    forge_unknown_kid,
    forge_own_key_with_our_kid,
    forge_wrong_aud,
    forge_wrong_iss,
    forge_expired,
    forge_issued_in_the_future,
    forge_tampered_payload,
    forge_missing_typ,
    forge_plain_jwt_typ,
    forge_without_family,
    forge_other_users_family,
    forge_garbage,
]


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__[6:])
def test_forged_token_is_refused_by_authenticate_bearer(claims, forge):
    error = refusal(forge(claims))
    assert (error.status, error.error) == (401, "invalid_token")
    assert error.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__[6:])
def test_forged_token_mints_nothing_over_http(client, claims, forge):
    families, refresh_tokens = TokenFamily.objects.count(), RefreshToken.objects.count()
    response = post_json(client, "/api/v1/auth/token", **bearer(forge(claims)))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert (TokenFamily.objects.count(), RefreshToken.objects.count()) == (
        families,
        refresh_tokens,
    )


def test_non_bearer_authorization_is_refused(client, pair):
    response = post_json(
        client, "/api/v1/auth/token", HTTP_AUTHORIZATION=f"Basic {pair['access_token']}"
    )
    assert response.status_code == 401


# --- instant revocation ---------------------------------------------------------------


def test_deactivated_user_is_refused_at_the_next_request(client, user, pair):
    assert (
        post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"])).status_code == 200
    )
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "user_inactive"


def test_deactivated_organisation_is_refused_at_the_next_request(client, user, pair):
    user.organisation.is_active = False
    user.organisation.save(update_fields=["is_active"])
    response = post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "user_inactive"


def test_logged_out_session_family_is_refused_at_the_next_request(client, user):
    pair = issue_pair(user, session_key="session-one")
    other = issue_pair(user, session_key="session-two")
    assert refresh_tokens.revoke_session_families("session-one", "logout") == 1
    response = post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    # Only that session's tokens end.
    assert (
        post_json(client, "/api/v1/auth/token", **bearer(other["access_token"])).status_code == 200
    )


def test_empty_session_key_revokes_nothing(user):
    issue_pair(user)
    assert refresh_tokens.revoke_session_families("", "logout") == 0
    assert not TokenFamily.objects.filter(revoked_at__isnull=False).exists()


def test_revoking_a_users_families_ends_every_token(client, user):
    first, second = issue_pair(user, session_key="a"), issue_pair(user)
    assert async_to_sync(sync_to_async(refresh_tokens.revoke_user_families))(user, "admin") == 2
    for pair in (first, second):
        assert refusal(pair["access_token"]).error == "invalid_token"
        response = post_json(
            client, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}
        )
        assert response.json()["error"] == "invalid_token"


def test_revoking_one_family(user, pair, claims):
    assert async_to_sync(refresh_tokens.arevoke_family)(claims["fam"], "logout") == 1
    assert refusal(pair["access_token"]).error == "invalid_token"
