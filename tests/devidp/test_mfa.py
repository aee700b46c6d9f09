"""The provider's multi-factor login, as Auth0 gives it: `amr: ["mfa"]` once a second
factor was confirmed, `acr` when the multi-factor policy was asked for in `acr_values`,
and a remembered login reused only when it satisfies `acr_values` and `max_age`."""

import httpx2

from tests.devidp.helpers import Pkce, authorize_params, exchange, login, verify
from tests.idp import ALICE, BOB

MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def id_token_claims(http, code, pkce):
    answer = exchange(http, code, pkce.verifier)
    assert answer.status_code == 200, answer.text
    return verify(http, answer.json()["id_token"])


def test_discovery_offers_the_multi_factor_policy(http):
    metadata = http.get(".well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == [MFA_POLICY]
    assert {"amr", "acr", "auth_time"} <= set(metadata["claims_supported"])


def test_a_login_asked_for_mfa_says_so_in_amr_and_acr(http):
    pkce = Pkce.new()
    code = login(http, pkce, ALICE, acr_values=MFA_POLICY, max_age="600")
    claims = id_token_claims(http, code, pkce)
    assert claims["amr"] == ["mfa"]
    assert claims["acr"] == MFA_POLICY
    assert isinstance(claims["auth_time"], int)


def test_a_plain_login_has_no_amr_and_no_acr(http):
    pkce = Pkce.new()
    claims = id_token_claims(http, login(http, pkce, ALICE), pkce)
    assert "amr" not in claims and "acr" not in claims


def pick(http, sub, *, mfa: bool, **overrides):
    pkce = Pkce.new()
    form = {**authorize_params(pkce, **overrides), "sub": sub}
    if mfa:
        form["mfa"] = "on"
    answer = http.post("authorize", data=form)
    assert answer.status_code == 302, answer.text
    return pkce, dict(httpx2.URL(answer.headers["location"]).params)["code"]


def test_the_chooser_offers_sign_in_with_mfa_ticked_when_asked(http):
    plain = http.get("authorize", params=authorize_params(Pkce.new()))
    assert "Sign in with MFA" in plain.text
    assert "name=mfa checked" not in plain.text
    asked = http.get("authorize", params=authorize_params(Pkce.new(), acr_values=MFA_POLICY))
    assert "name=mfa checked" in asked.text
    assert "The application asks for a multi-factor login." in asked.text


def test_sign_in_with_mfa_from_the_chooser(http):
    pkce, code = pick(http, BOB, mfa=True)
    claims = id_token_claims(http, code, pkce)
    assert claims["amr"] == ["mfa"]
    assert "acr" not in claims


def test_a_remembered_login_without_mfa_is_asked_again_for_mfa(idp, http):
    pick(http, BOB, mfa=False)
    page = http.get("authorize", params=authorize_params(Pkce.new(), acr_values=MFA_POLICY))
    assert page.status_code == 200
    assert "Choose a demo user" in page.text


def test_a_remembered_login_with_mfa_is_reused_with_its_auth_time(idp, http):
    pick(http, BOB, mfa=True)
    (session,) = idp.sso_sessions.values()
    session["auth_time"] -= 100
    pkce = Pkce.new()
    again = http.get(
        "authorize", params=authorize_params(pkce, acr_values=MFA_POLICY, max_age="600")
    )
    assert again.status_code == 302
    code = dict(httpx2.URL(again.headers["location"]).params)["code"]
    claims = id_token_claims(http, code, pkce)
    assert claims["auth_time"] == session["auth_time"]
    assert claims["amr"] == ["mfa"] and claims["acr"] == MFA_POLICY


def test_a_remembered_login_older_than_max_age_is_asked_again(idp, http):
    pick(http, BOB, mfa=True)
    (session,) = idp.sso_sessions.values()
    session["auth_time"] -= 100
    page = http.get("authorize", params=authorize_params(Pkce.new(), max_age="50"))
    assert page.status_code == 200
    assert "Choose a demo user" in page.text
