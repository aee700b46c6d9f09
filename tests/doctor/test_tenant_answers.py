"""How `auth_doctor` reads the tenant's answers that the local identity provider does not
give: Auth0's pages and redirects at `/authorize`, its refusals of a client credentials
request for an API, a discovery document without back-channel logout; and that the logout
URL it visits is the one this server hands out."""

import httpx2
import pytest
from asgiref.sync import async_to_sync

from accounts.login import oidc
from accounts.ops.doctor.tenant import (
    check_backchannel,
    judge_answer,
    judge_audience_error,
)
from accounts.redirects import default_landing

API = "https://api.example.com/"
TENANT = "https://acme.eu.auth0.com"
CALLBACK = "https://api.example.com/auth/callback"


def test_the_logout_url_visited_is_the_one_the_server_hands_out(idp):
    document = async_to_sync(oidc.discovery)()
    assert oidc.end_session_url(document, default_landing()) == async_to_sync(oidc.logout_url)(
        default_landing()
    )


@pytest.mark.parametrize(
    ("document", "verdict", "found"),
    [
        (
            {"backchannel_logout_supported": True, "backchannel_logout_session_supported": True},
            "ok",
            "the provider supports it, by session (sid): register "
            "https://api.example.com/auth/backchannel-logout",
        ),
        (
            {"backchannel_logout_supported": True},
            "ok",
            "by person only (no sid: a logout ends every session of that person here)",
        ),
        ({}, "warn", "discovery does not advertise backchannel_logout_supported"),
    ],
)
def test_back_channel_logout_as_discovery_advertises_it(settings, document, verdict, found):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    check = check_backchannel(document, "")
    assert check.verdict == verdict
    assert found in check.found


def _answer(status, location=None, json=None):
    headers = {"location": location} if location else {}
    request = httpx2.Request("GET", f"{TENANT}/authorize?redirect_uri=…")
    return httpx2.Response(status, headers=headers, json=json, request=request)


@pytest.mark.parametrize(
    ("response", "kind", "said"),
    [
        (_answer(302, f"{CALLBACK}?error=login_required&state=s"), "back", "login_required"),
        (_answer(302, f"{CALLBACK}?code=c&state=s"), "back", ""),
        (_answer(400), "refused", ""),
        (
            _answer(
                302,
                "https://app.example.com/error?error=unauthorized_client&error_description="
                "Callback+URL+mismatch.",
            ),
            "refused",
            "unauthorized_client: Callback URL mismatch.",
        ),
        (
            _answer(403, json={"error": "unauthorized_client", "error_description": "no"}),
            "refused",
            "unauthorized_client: no",
        ),
        (_answer(302, "/u/login?state=s"), "page", ""),
        (_answer(200), "page", ""),
        (_answer(503), "failed", ""),
    ],
)
def test_how_a_browser_s_answer_is_read(response, kind, said):
    answer = judge_answer(response, CALLBACK)
    assert (answer.kind, answer.said) == (kind, said)


@pytest.mark.parametrize(
    ("error", "description", "verdict"),
    [
        ("access_denied", f"Service not found: {API}", "FAIL"),
        (
            "access_denied",
            f'Client is not authorized to access "{API}". You need to create a "client-grant" '
            "associated to this API.",
            "ok",
        ),
        ("unauthorized_client", "Grant type 'client_credentials' not allowed", "warn"),
        ("access_denied", None, "warn"),
        ("invalid_request", "something else", "warn"),
    ],
)
def test_how_auth0_s_refusals_of_an_audience_are_read(error, description, verdict):
    assert judge_audience_error(API, error, description).verdict == verdict
