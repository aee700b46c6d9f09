"""/oauth/token, the tokens it mints, and /userinfo."""

import base64
import time

import pytest
from joserfc.errors import BadSignatureError

from tests.devidp.helpers import CALLBACK, Pkce, exchange, header, login, verify
from tests.idp import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, MALLORY


def _login_and_exchange(http, sub, **authorize):
    pkce = Pkce.new()
    response = exchange(http, login(http, pkce, sub, **authorize), pkce.verifier)
    assert response.status_code == 200, response.text
    return response.json()


def test_exchange_answers_like_auth0(http):
    pkce = Pkce.new()

    response = exchange(http, login(http, pkce, BOB), pkce.verifier)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body.keys() == {"access_token", "id_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["scope"] == "openid profile email"


def test_id_token_verifies_with_the_jwks_and_carries_the_login(idp, http):
    body = _login_and_exchange(http, ALICE, organization="org_acme")

    claims = verify(http, body["id_token"])

    assert claims["iss"] == idp.issuer
    assert claims["sub"] == ALICE
    assert claims["aud"] == claims["azp"] == CLIENT_ID
    assert claims["nonce"] == "nonce-456"
    assert claims["sid"] == idp.logins[-1]["sid"]
    assert claims["auth_time"] == idp.logins[-1]["auth_time"]
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["email"] == "alice@acme.example"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Acme"
    assert claims["picture"].startswith("https://")
    assert (claims["org_id"], claims["org_name"]) == ("org_acme", "Acme Analytics")


def test_id_token_header_names_the_signing_key(idp, http):
    token = _login_and_exchange(http, BOB)["id_token"]

    assert header(token) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": idp.current_key.kid,
    }


def test_user_without_organisation_gets_no_org_claims(http):
    claims = verify(http, _login_and_exchange(http, BOB)["id_token"])

    assert "org_id" not in claims and "org_name" not in claims


def test_unverified_email_is_reported_as_such(http):
    claims = verify(http, _login_and_exchange(http, MALLORY)["id_token"])

    assert claims["email"] == "mallory@acme.example"
    assert claims["email_verified"] is False


def test_every_login_gets_its_own_session_id(http):
    first = verify(http, _login_and_exchange(http, BOB)["id_token"])
    second = verify(http, _login_and_exchange(http, BOB)["id_token"])

    assert first["sid"] != second["sid"]


def test_claims_follow_the_scope(http):
    claims = verify(http, _login_and_exchange(http, BOB, scope="openid")["id_token"])

    assert not {"email", "email_verified", "name", "picture"} & claims.keys()


def test_profile_changes_show_in_the_next_id_token(idp, http):
    idp.add_user(BOB, email="robert@example.com", name="Robert")

    claims = verify(http, _login_and_exchange(http, BOB)["id_token"])

    assert (claims["email"], claims["name"]) == ("robert@example.com", "Robert")


def test_wrong_verifier_is_invalid_grant_and_spends_the_code(http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    wrong = exchange(http, code, Pkce.new().verifier)
    right = exchange(http, code, pkce.verifier)

    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert (right.status_code, right.json()["error"]) == (400, "invalid_grant")


def test_replayed_code_is_invalid_grant(http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    first = exchange(http, code, pkce.verifier)
    replay = exchange(http, code, pkce.verifier)

    assert first.status_code == 200
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_expired_code_is_invalid_grant(idp, http):
    idp.code_ttl = 0.05
    pkce = Pkce.new()
    code = login(http, pkce, BOB)
    time.sleep(0.1)

    response = exchange(http, code, pkce.verifier)

    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization(http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    response = exchange(http, code, pkce.verifier, redirect_uri="http://127.0.0.1:1/auth/callback")

    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "wrong"},
        {"client_secret": None},
        {"client_id": "someone-else"},
    ],
)
def test_bad_client_credentials_are_invalid_client_and_leave_the_code(http, credentials):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    refused = exchange(http, code, pkce.verifier, **credentials)

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert exchange(http, code, pkce.verifier).status_code == 200


def _basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_client_secret_basic_is_accepted(http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    response = http.post(
        "oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": pkce.verifier,
        },
        headers={"Authorization": _basic(CLIENT_ID, CLIENT_SECRET)},
    )

    assert response.status_code == 200


def test_client_secret_basic_with_a_wrong_secret_is_challenged(http):
    response = http.post(
        "oauth/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": _basic(CLIENT_ID, "wrong")},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_two_client_authentication_methods_at_once_are_refused(http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)

    response = http.post(
        "oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_secret": CLIENT_SECRET},
        headers={"Authorization": _basic(CLIENT_ID, CLIENT_SECRET)},
    )

    assert response.json()["error"] == "invalid_request"


def test_other_grant_types_are_unsupported(http):
    response = exchange(http, "x", "y", grant_type="password")

    assert response.json()["error"] == "unsupported_grant_type"


API = "https://api.example"


def client_credentials(http, **overrides):
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "audience": API,
        **overrides,
    }
    return http.post("oauth/token", data={k: v for k, v in form.items() if v is not None})


def test_client_credentials_give_a_token_for_a_granted_api(idp, http):
    idp.add_api(API, [CLIENT_ID])

    response = client_credentials(http)

    assert response.status_code == 200, response.text
    claims = verify(http, response.json()["access_token"])
    assert (claims["aud"], claims["sub"], claims["gty"]) == (
        API,
        f"{CLIENT_ID}@clients",
        "client-credentials",
    )


@pytest.mark.parametrize(
    ("apis", "audience", "description"),
    [
        ({}, API, f"Service not found: {API}"),
        ({API: []}, API, f'Client is not authorized to access "{API}".'),
        ({API: [CLIENT_ID]}, None, "No audience parameter was provided"),
    ],
)
def test_client_credentials_are_refused_as_auth0_refuses_them(
    idp, http, apis, audience, description
):
    for identifier, clients in apis.items():
        idp.add_api(identifier, clients)

    response = client_credentials(http, audience=audience)

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    assert response.json()["error_description"].startswith(description)


def test_a_grant_type_the_client_is_not_allowed_is_refused(idp, http):
    idp.add_api(API, [CLIENT_ID])
    idp.clients[CLIENT_ID]["grant_types"] = ["authorization_code"]

    response = client_credentials(http)

    assert response.status_code == 403
    assert response.json() == {
        "error": "unauthorized_client",
        "error_description": "Grant type 'client_credentials' not allowed for the client.",
    }


def test_client_credentials_need_the_client_s_secret(idp, http):
    idp.add_api(API, [CLIENT_ID])

    response = client_credentials(http, client_secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_audience_gives_a_jwt_access_token_for_that_api(idp, http):
    body = _login_and_exchange(http, ALICE, audience="https://api.example")

    claims = verify(http, body["access_token"])

    assert claims["aud"] == ["https://api.example", f"{idp.issuer}userinfo"]
    assert claims["iss"] == idp.issuer
    assert claims["sub"] == ALICE
    assert claims["azp"] == CLIENT_ID
    assert claims["scope"] == "openid profile email"
    assert claims["org_id"] == "org_acme"
    assert claims["exp"] > claims["iat"]


def test_without_audience_the_access_token_is_opaque(http):
    access_token = _login_and_exchange(http, BOB)["access_token"]

    assert access_token.count(".") == 0


def test_userinfo_answers_the_profile_for_the_access_token(http):
    access_token = _login_and_exchange(http, MALLORY)["access_token"]

    response = http.get("userinfo", headers={"Authorization": f"Bearer {access_token}"})

    assert response.status_code == 200
    assert response.json()["sub"] == MALLORY
    assert response.json()["email_verified"] is False


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dGVzdA=="])
def test_userinfo_without_a_valid_access_token_is_401(http, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = http.get("userinfo", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_id_token_hook_may_change_claims_in_place(idp, http):
    def expire(claims, header):
        claims["exp"] = claims["iat"] - 60

    idp.id_token_hook = expire

    claims = verify(http, _login_and_exchange(http, BOB)["id_token"])

    assert claims["exp"] < claims["iat"]


def test_id_token_hook_may_replace_the_claims(idp, http):
    idp.id_token_hook = lambda claims, header: {**claims, "iss": "https://impostor.example/"}

    claims = verify(http, _login_and_exchange(http, BOB)["id_token"])

    assert claims["iss"] == "https://impostor.example/"


def test_id_token_hook_may_replace_the_token(idp, http):
    forged = idp.sign({"sub": BOB}, {"kid": idp.current_key.kid}, key=idp.foreign_key())
    idp.id_token_hook = lambda claims, header: forged

    id_token = _login_and_exchange(http, BOB)["id_token"]

    assert id_token == forged
    with pytest.raises(BadSignatureError):
        verify(http, id_token)
