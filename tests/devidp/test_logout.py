"""/oidc/logout and /v2/logout."""

import pytest

from tests.idp import CLIENT_ID

RETURN_TO = "http://localhost:5173/signed-out"


def test_oidc_logout_redirects_with_state(http):
    response = http.get(
        "oidc/logout",
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": RETURN_TO, "state": "s1"},
    )

    assert response.status_code == 302
    assert response.headers["location"] == f"{RETURN_TO}?state=s1"


def test_v2_logout_redirects_to_return_to(http):
    response = http.get("v2/logout", params={"client_id": CLIENT_ID, "returnTo": RETURN_TO})

    assert response.status_code == 302
    assert response.headers["location"] == RETURN_TO


@pytest.mark.parametrize("path", ["oidc/logout", "v2/logout"])
def test_logout_without_a_redirect_shows_a_page(http, path):
    response = http.get(path)

    assert response.status_code == 200
    assert "You are logged out" in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"returnTo": RETURN_TO},
        {"returnTo": RETURN_TO, "client_id": "someone-else"},
        {"returnTo": "javascript:alert(1)", "client_id": CLIENT_ID},
    ],
)
def test_logout_redirect_needs_a_client_and_an_http_url(http, params):
    response = http.get("v2/logout", params=params)

    assert response.status_code == 400
    assert "location" not in response.headers


def test_logout_redirect_to_a_non_ascii_url_is_percent_encoded(http):
    response = http.get(
        "v2/logout",
        params={"client_id": CLIENT_ID, "returnTo": "http://localhost:5173/au-revoir-é"},
    )

    assert response.headers["location"] == "http://localhost:5173/au-revoir-%C3%A9"


@pytest.mark.parametrize(
    ("path", "parameter"), [("oidc/logout", "post_logout_redirect_uri"), ("v2/logout", "returnTo")]
)
def test_logout_redirect_must_be_an_allowed_logout_url(idp, http, path, parameter):
    idp.clients[CLIENT_ID]["logout_urls"] = ["http://localhost:5173/"]

    allowed = http.get(
        path, params={"client_id": CLIENT_ID, parameter: "http://localhost:5173/?from=x"}
    )
    refused = http.get(path, params={"client_id": CLIENT_ID, parameter: RETURN_TO})

    assert allowed.status_code == 302
    assert allowed.headers["location"].startswith("http://localhost:5173/?from=x")
    assert refused.status_code == 400
    assert "location" not in refused.headers
    assert f"{parameter}&quot; querystring parameter &quot;{RETURN_TO}&quot;" in refused.text
    assert "Allowed Logout URLs" in refused.text
