"""The web app on another origin may send a DPoP header and read the server's nonce
and the reason of a refusal."""

import pytest

FRONTEND = "http://localhost:5173"

pytestmark = pytest.mark.django_db


def test_the_preflight_allows_the_dpop_header(client):
    answer = client.options(
        "/api/v1/auth/refresh",
        HTTP_ORIGIN=FRONTEND,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, dpop",
    )
    assert answer.status_code == 200
    allowed = {name.strip() for name in answer["Access-Control-Allow-Headers"].split(",")}
    assert {"dpop", "content-type", "authorization", "x-csrftoken"} <= allowed


def test_the_web_app_may_read_the_nonce_and_the_challenge(client):
    answer = client.get("/api/v1/auth/csrf", HTTP_ORIGIN=FRONTEND)
    exposed = {name.strip() for name in answer["Access-Control-Expose-Headers"].split(",")}
    assert {"DPoP-Nonce", "WWW-Authenticate", "X-Request-ID"} <= exposed
