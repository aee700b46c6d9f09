"""/authorize: validation, the login_hint shortcut, the chooser page, organisations."""

from html.parser import HTMLParser

import pytest

from tests.devidp.helpers import CALLBACK, Pkce, authorize_params, exchange, login, redirect_params
from tests.idp import ALICE, BOB, MALLORY


class _Forms(HTMLParser):
    """The hidden inputs and submit buttons of a page."""

    def __init__(self):
        super().__init__()
        self.hidden, self.buttons, self.action = {}, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        elif tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs["name"]] = attrs["value"]
        elif tag == "button":
            self.buttons[attrs["value"]] = attrs["name"]


def _forms(html):
    parser = _Forms()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("hint", [ALICE, "ALICE@acme.example"])
def test_login_hint_naming_a_user_approves_at_once(idp, http, hint):
    pkce = Pkce.new()

    params = redirect_params(http.get("authorize", params=authorize_params(pkce, login_hint=hint)))

    assert params.keys() == {"code", "state"}
    assert params["state"] == "state-123"
    assert idp.logins[-1]["sub"] == ALICE
    assert exchange(http, params["code"], pkce.verifier).status_code == 200


def test_redirect_goes_to_the_registered_callback(http):
    response = http.get("authorize", params=authorize_params(Pkce.new(), login_hint=BOB))

    assert response.headers["location"].startswith(CALLBACK + "?")


def test_chooser_lists_every_user_and_its_answer_completes_the_login(idp, http):
    pkce = Pkce.new()
    request = authorize_params(pkce, audience="https://api.example")

    page = http.get("authorize", params=request)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Choose a demo user" in page.text
    form = _forms(page.text)
    assert form.action == "authorize"
    assert set(form.buttons) == {ALICE, BOB, MALLORY}
    assert form.hidden == request
    for name in ("Alice Acme", "bob@example.com", "Acme Analytics"):
        assert name in page.text

    answer = http.post("authorize", data={**form.hidden, "sub": BOB})

    code = redirect_params(answer)["code"]
    assert idp.logins[-1]["sub"] == BOB
    assert exchange(http, code, pkce.verifier).status_code == 200


def test_chooser_escapes_what_the_browser_sent(http):
    page = http.get(
        "authorize", params=authorize_params(Pkce.new(), state='"><script>x()</script>')
    )

    assert "<script>" not in page.text
    assert _forms(page.text).hidden["state"] == '"><script>x()</script>'


def test_chooser_answer_naming_no_user_is_refused(http):
    response = http.post("authorize", data={**authorize_params(Pkce.new()), "sub": "auth0|nobody"})

    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/auth/callback"},
        {"redirect_uri": None},
        {"redirect_uri": "http://testserver/auth/callback/"},
        {"redirect_uri": "http://127.0.0.1:8000/elsewhere"},
        {"redirect_uri": "http://127.0.0.1:8000@evil.example/auth/callback"},
        {"redirect_uri": "http://127.0.0.1:8000/auth/callback?next=https://evil.example"},
        {"redirect_uri": "http://127.0.0.1:/auth/callback"},
        {"redirect_uri": "https://127.0.0.1:8000/auth/callback"},
        {"response_type": "token"},
        {"code_challenge": None},
        {"code_challenge": "too-short"},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"state": None},
        {"scope": "profile email"},
    ],
)
def test_invalid_requests_get_an_error_page_and_no_redirect(http, overrides):
    response = http.get(
        "authorize", params=authorize_params(Pkce.new(), login_hint=BOB, **overrides)
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers


def test_a_repeated_parameter_is_refused(http):
    params = list(authorize_params(Pkce.new(), login_hint=BOB).items())

    response = http.get("authorize", params=[*params, ("redirect_uri", "https://evil.example/")])

    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "callback", ["http://127.0.0.1:43123/auth/callback", "http://localhost:8000/auth/callback"]
)
def test_loopback_callbacks_on_any_port_are_accepted(http, callback):
    pkce = Pkce.new()

    code = login(http, pkce, BOB, redirect_uri=callback)

    assert exchange(http, code, pkce.verifier, redirect_uri=callback).status_code == 200


def test_organization_outsider_is_sent_back_with_access_denied(idp, http):
    request = authorize_params(Pkce.new(), login_hint=BOB, organization="org_acme")

    params = redirect_params(http.get("authorize", params=request))

    assert params["error"] == "access_denied"
    assert params["error_description"]
    assert params["state"] == "state-123"
    assert "code" not in params
    assert idp.logins == []
