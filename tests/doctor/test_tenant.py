"""`manage.py auth_doctor` on the application's registration at the tenant, against the
local identity provider registered one way or another: the callback URL, the logout
return URL, back-channel logout and the API of AUTH0_AUDIENCE. Each test asserts the
line and hint an operator reads and the exit status (test_tenant_answers.py reads the
answers the local provider does not give)."""

import pytest

from tests.idp import CLIENT_ID

from .conftest import auth_doctor

pytestmark = pytest.mark.django_db

API = "https://api.example.com/"
CALLBACK = "https://api.example.com/auth/callback"


def test_a_callback_url_the_tenant_does_not_know_fails(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("callback url") == ["FAIL"]
    assert report.text("callback url") == (
        f"{CALLBACK}: refused: {doctor.issuer}authorize answered HTTP 400, not a redirect to it"
        f" — add {CALLBACK} exactly to the application's Allowed Callback URLs (Applications "
        "→ your application → Settings)"
    )
    assert report.summary.startswith("1 failure, ")
    assert doctor.logins == []


def test_without_public_base_url_a_refused_callback_is_a_warning(doctor, signing_key, settings):
    """The URI is assumed (http://127.0.0.1:8000): the host people really use may be
    registered."""
    settings.PUBLIC_BASE_URL = None
    doctor.clients[CLIENT_ID]["redirect_uris"] = [CALLBACK]
    report = auth_doctor()
    assert report.verdicts("callback url") == ["warn"]
    text = report.text("callback url")
    assert "assuming http://127.0.0.1:8000/auth/callback: refused" in text
    assert "set PUBLIC_BASE_URL" in text
    assert (
        "if this server is reached at http://127.0.0.1:8000/auth/callback, add "
        "http://127.0.0.1:8000/auth/callback exactly to the application's Allowed Callback URLs"
    ) in text
    assert report.code == 0


def test_a_registered_callback_url_passes(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    doctor.clients[CLIENT_ID]["redirect_uris"].append(CALLBACK)
    report = auth_doctor()
    assert report.verdicts("callback url") == ["ok"]
    assert report.text("callback url").startswith(f"{CALLBACK}: accepted")
    assert report.code == 0


def test_an_unknown_client_id_is_refused_at_authorize_too(doctor, signing_key, settings):
    settings.AUTH0_CLIENT_ID = "nobody"
    report = auth_doctor()
    assert report.verdicts("client credentials") == ["FAIL"]
    assert report.verdicts("callback url") == ["FAIL"]
    assert report.code == 1


def test_a_logout_url_the_tenant_does_not_allow_fails(doctor, signing_key):
    doctor.clients[CLIENT_ID]["logout_urls"] = ["http://localhost:5173/signed-out"]
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("logout url") == ["FAIL"]
    assert report.text("logout url") == (
        f"{doctor.issuer}oidc/logout refused to send the browser back to "
        "http://localhost:5173/ (HTTP 400) — add http://localhost:5173/ to the "
        "application's Allowed Logout URLs"
    )
    assert report.summary == "1 failure, 0 warnings"


def test_an_allowed_logout_url_passes(doctor, signing_key):
    doctor.clients[CLIENT_ID]["logout_urls"] = ["http://localhost:5173/"]
    report = auth_doctor()
    assert report.verdicts("logout url") == ["ok"]
    assert report.code == 0


def test_a_relative_login_redirect_url_is_a_warning(doctor, signing_key, settings):
    settings.LOGIN_REDIRECT_URL = "/"
    report = auth_doctor()
    assert report.verdicts("logout url") == ["warn"]
    assert "LOGIN_REDIRECT_URL '/' is not an absolute URL" in report.text("logout url")
    assert report.code == 0


def test_a_wrong_audience_fails(doctor, signing_key, settings):
    doctor.add_api(API, [CLIENT_ID])
    settings.AUTH0_AUDIENCE = API.rstrip("/")
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("audience") == ["FAIL"]
    assert report.text("audience") == (
        "'https://api.example.com': the provider has no API with this identifier "
        "(access_denied: Service not found: https://api.example.com) — create the API "
        "(Applications → APIs) or copy its Identifier exactly into AUTH0_AUDIENCE"
    )
    assert report.summary == "1 failure, 0 warnings"


def test_an_audience_without_its_scheme_fails_with_that_hint(doctor, signing_key, settings):
    doctor.add_api(API, [CLIENT_ID])
    settings.AUTH0_AUDIENCE = "api.example.com"
    report = auth_doctor()
    assert report.verdicts("audience") == ["FAIL"]
    assert "looks like" not in report.text("audience")
    assert "usually https://…" in report.text("audience")
    assert report.code == 1


@pytest.mark.parametrize(
    ("granted", "found"),
    [
        ([CLIENT_ID], "it issued this application a client-credentials token for it"),
        ([], "it refused this application a client-credentials token for it"),
    ],
)
def test_an_audience_the_tenant_has_passes(doctor, signing_key, settings, granted, found):
    doctor.add_api(API, granted)
    settings.AUTH0_AUDIENCE = API
    report = auth_doctor()
    assert report.verdicts("audience") == ["ok"]
    assert report.text("audience") == f"'{API}': the provider has this API ({found}" + (
        ", which the doctor discarded)" if granted else ", which logins do not need)"
    )
    assert report.code == 0


def test_an_audience_is_not_checked_without_the_client_credentials_grant(
    doctor, signing_key, settings
):
    doctor.add_api(API, [CLIENT_ID])
    doctor.clients[CLIENT_ID]["grant_types"] = ["authorization_code"]
    settings.AUTH0_AUDIENCE = API
    report = auth_doctor()
    assert report.verdicts("audience") == ["warn"]
    assert report.text("audience").startswith(
        f"'{API}': not checked: the token endpoint answered unauthorized_client: Grant type "
        "'client_credentials' not allowed for the client."
    )
    assert "by hand" in report.text("audience")
    assert report.code == 0


def test_an_audience_is_skipped_when_the_credentials_fail(doctor, signing_key, settings):
    doctor.add_api(API, [CLIENT_ID])
    settings.AUTH0_AUDIENCE = API
    settings.AUTH0_CLIENT_SECRET = "not-the-registered-secret"
    report = auth_doctor()
    assert report.verdicts("audience") == ["skip"]
    assert (
        report.text("audience") == f"'{API}': not checked at the provider (see client credentials)"
    )
    assert report.summary == "1 failure, 0 warnings, 1 skipped"
