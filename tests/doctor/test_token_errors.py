"""What the token endpoint's answer to a made-up code says about the client credentials.
The test provider answers RFC 6749's `invalid_client`; Auth0 answers a wrong client id or
secret with `access_denied` "Unauthorized", which the provider cannot be made to say."""

import pytest

from accounts.ops.doctor.provider import judge_token_error

ENDPOINT = "https://acme.eu.auth0.com/oauth/token"


@pytest.mark.parametrize(
    ("error", "description", "verdict", "found"),
    [
        ("invalid_grant", "Invalid authorization code", "ok", "accepted by " + ENDPOINT),
        (
            "access_denied",
            "Unauthorized",
            "FAIL",
            "refused this client (access_denied: Unauthorized)",
        ),
        ("invalid_client", None, "FAIL", "refused this client (invalid_client)"),
        ("unauthorized_client", "Grant type not allowed", "FAIL", "refused this client"),
        ("unsupported_grant_type", None, "FAIL", "answered unsupported_grant_type"),
        ("invalid_request", "Missing required parameter", "FAIL", "answered invalid_request"),
    ],
)
def test_token_endpoint_answers(error, description, verdict, found):
    check = judge_token_error(ENDPOINT, error, description)
    assert check.verdict == verdict
    assert found in check.found
    if error in ("access_denied", "invalid_client", "unauthorized_client"):
        assert "AUTH0_CLIENT_SECRET" in check.hint
    if error == "unsupported_grant_type":
        assert "Authorization Code grant" in check.hint
