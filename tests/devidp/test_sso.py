"""Like Auth0, the provider remembers whom a browser picked: later authorizations are
approved without the chooser until the person logs out there or `prompt=login`; with
`prompt=none` it never shows a page to a browser it does not remember."""

from tests.devidp.helpers import Pkce, authorize_params, redirect_params
from tests.idp import ALICE, BOB, CLIENT_ID


def pick(http, sub):
    request = authorize_params(Pkce.new())
    answer = http.post("authorize", data={**request, "sub": sub})
    assert answer.status_code == 302
    return answer


def test_a_picked_person_is_not_asked_again(idp, http):
    pick(http, BOB)
    again = http.get("authorize", params=authorize_params(Pkce.new()))
    assert again.status_code == 302
    assert "code" in redirect_params(again)
    assert idp.logins[-1]["sub"] == BOB


def test_prompt_login_asks_again(idp, http):
    pick(http, BOB)
    page = http.get("authorize", params=authorize_params(Pkce.new(), prompt="login"))
    assert page.status_code == 200
    assert "Choose a demo user" in page.text


def test_login_hint_wins_over_the_remembered_person(idp, http):
    pick(http, BOB)
    http.get("authorize", params=authorize_params(Pkce.new(), login_hint=ALICE))
    assert idp.logins[-1]["sub"] == ALICE


def test_logging_out_at_the_provider_forgets_the_person(idp, http):
    pick(http, BOB)
    out = http.get(
        "oidc/logout",
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://testserver/"},
    )
    assert out.status_code == 302
    assert "devidp_sso=;" in out.headers["set-cookie"]
    assert idp.sso_sessions == {}
    page = http.get("authorize", params=authorize_params(Pkce.new()))
    assert page.status_code == 200


def test_another_browser_is_asked(idp, http):
    import httpx2

    pick(http, BOB)
    with httpx2.Client(base_url=idp.issuer, timeout=5) as other:
        page = other.get("authorize", params=authorize_params(Pkce.new()))
    assert page.status_code == 200


def test_prompt_none_without_a_session_redirects_with_login_required(idp, http):
    answer = http.get("authorize", params=authorize_params(Pkce.new(), prompt="none"))
    assert answer.status_code == 302
    assert redirect_params(answer) == {
        "error": "login_required",
        "error_description": "Login required",
        "state": "state-123",
    }
    assert idp.logins == []


def test_prompt_none_with_a_session_is_approved(idp, http):
    pick(http, BOB)
    answer = http.get("authorize", params=authorize_params(Pkce.new(), prompt="none"))
    assert "code" in redirect_params(answer)
    assert idp.logins[-1]["sub"] == BOB


def test_prompt_none_never_redirects_to_an_unregistered_uri(http):
    answer = http.get(
        "authorize",
        params=authorize_params(
            Pkce.new(), prompt="none", redirect_uri="https://elsewhere.example/auth/callback"
        ),
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "The redirect_uri is not registered for this client." in answer.text
