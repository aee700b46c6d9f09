"""Discovery and JWKS, as Auth0 publishes them."""

import time
from email.utils import parsedate_to_datetime


def test_discovery_names_auth0_style_endpoints_under_the_issuer(idp, http):
    response = http.get(".well-known/openid-configuration")

    assert response.status_code == 200
    document = response.json()
    issuer = idp.issuer
    assert issuer.endswith("/") and document["issuer"] == issuer
    assert document["authorization_endpoint"] == f"{issuer}authorize"
    assert document["token_endpoint"] == f"{issuer}oauth/token"
    assert document["jwks_uri"] == f"{issuer}.well-known/jwks.json"
    assert document["userinfo_endpoint"] == f"{issuer}userinfo"
    assert document["end_session_endpoint"] == f"{issuer}oidc/logout"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_answers_carry_the_current_date(http):
    response = http.get(".well-known/openid-configuration")

    served_at = parsedate_to_datetime(response.headers["date"]).timestamp()
    assert abs(served_at - time.time()) < 5


def test_jwks_publishes_only_public_rs256_signing_keys(idp, http):
    keys = http.get(".well-known/jwks.json").json()["keys"]

    assert [key["kid"] for key in keys] == [idp.current_key.kid]
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["use"] == "sig"
    assert keys[0]["alg"] == "RS256"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & keys[0].keys()


def test_unknown_path_and_wrong_method_answer_json(http):
    missing = http.get("nowhere")
    wrong_method = http.get("oauth/token")

    assert (missing.status_code, missing.json()) == (404, {"error": "not_found"})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"


def test_requests_are_counted_by_method_and_path(idp, http):
    http.get(".well-known/jwks.json")
    http.get(".well-known/jwks.json")

    assert idp.requests["GET", "/.well-known/jwks.json"] == 2
    assert idp.requests["GET", "/.well-known/openid-configuration"] == 0
