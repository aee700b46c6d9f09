"""`manage.py auth_doctor` against the local identity provider: healthy, then one
misconfiguration per test. Each test asserts the line an operator would read, the
hint, the lines that must stay ok or be skipped, and the exit status."""

import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync

from accounts import keys
from accounts.login import oidc
from accounts.models import SigningKey
from tests.idp import CLIENT_ID, CLIENT_SECRET

from .conftest import HEALTHY_NAMES, ROOT, auth_doctor, manage_env

pytestmark = pytest.mark.django_db

PROVIDER_CHECKS = ["discovery", "issuer", "jwks", "client credentials", "clock"]


def test_healthy_provider_every_line_ok(doctor, signing_key):
    report = auth_doctor()
    assert report.code == 0, report.out
    assert report.names == HEALTHY_NAMES
    assert [verdict for verdict, _, _ in report.lines] == ["ok"] * len(HEALTHY_NAMES), report.out
    assert report.summary == "0 failures, 0 warnings"
    assert f"issuer {doctor.issuer} (from AUTH0_ISSUER)" in report.text("configuration")
    assert f"secret set ({len(CLIENT_SECRET)} chars)" in report.text("configuration")
    assert CLIENT_SECRET not in report.out
    assert report.text("discovery").startswith("200 in ")
    assert doctor.current_key.kid[:12] in report.text("jwks")
    assert "invalid_grant" in report.text("client credentials")
    assert report.text("callback url").startswith(
        f"http://localhost:8000/auth/callback: accepted: {doctor.issuer}authorize sends the "
        "browser back to it (it answered login_required: Login required)"
    )
    assert report.text("logout url") == (
        f"{doctor.issuer}oidc/logout sends the browser back to http://localhost:5173/"
    )
    assert "by session (sid)" in report.text("back-channel logout")
    assert "http://localhost:8000/auth/backchannel-logout" in report.text("back-channel logout")
    assert doctor.logins == [], "the doctor logs nobody in"
    assert "same-site" in report.text("deployment")
    assert signing_key.kid[:12] in report.text("signing key")


def test_discovery_is_fetched_fresh_not_from_the_cache(doctor, signing_key):
    """A discovery document cached by a login must not hide a provider that is down now."""
    async_to_sync(oidc.discovery)()
    doctor.fail("discovery", "500")
    report = auth_doctor()
    assert report.verdicts("discovery") == ["FAIL"]
    assert report.code == 1


def test_issuer_without_trailing_slash(doctor, signing_key, settings):
    settings.AUTH0_ISSUER = doctor.issuer.rstrip("/")
    report = auth_doctor()
    # logins work (tokens are checked against discovery's spelling): a warning, not a failure
    assert report.code == 0
    assert report.verdicts("issuer") == ["warn"]
    assert f"discovery says '{doctor.issuer}'" in report.text("issuer")
    assert "the trailing slash is missing" in report.text("issuer")
    assert "add the trailing slash" in report.text("issuer")
    # Discovery is still found (one slash between issuer and path whatever it ends with).
    for name in ("configuration", "discovery", "jwks", "client credentials", "clock"):
        assert report.verdicts(name) == ["ok"], report.out
    assert report.summary == "0 failures, 1 warning"


def test_issuer_on_another_host(doctor, signing_key, settings):
    settings.AUTH0_ISSUER = doctor.issuer.replace("127.0.0.1", "localhost")
    report = auth_doctor()
    assert report.verdicts("issuer") == ["FAIL"]
    assert "netloc 'localhost:" in report.text("issuer")
    assert report.code == 1


def test_wrong_client_secret(doctor, signing_key, settings):
    settings.AUTH0_CLIENT_SECRET = "not-the-registered-secret"
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("client credentials") == ["FAIL"]
    assert "refused this client (invalid_client" in report.text("client credentials")
    assert "check AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET" in report.text("client credentials")
    assert "not-the-registered-secret" not in report.out
    assert "secret set (25 chars)" in report.text("configuration")


def test_unknown_client_id(doctor, signing_key, settings):
    settings.AUTH0_CLIENT_ID = "nobody"
    report = auth_doctor()
    assert report.verdicts("client credentials") == ["FAIL"]
    assert report.code == 1


@pytest.mark.parametrize(
    ("mode", "found"),
    [("500", "answered HTTP 500"), ("timeout", "did not answer (ReadTimeout)")],
)
def test_token_endpoint_failing(doctor, signing_key, mode, found):
    doctor.fail("token", mode)
    report = auth_doctor()
    assert report.verdicts("client credentials") == ["FAIL"]
    assert found in report.text("client credentials")
    assert report.code == 1


def test_discovery_down_skips_what_depends_on_it(doctor, signing_key):
    doctor.fail("discovery", "500")
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("discovery") == ["FAIL"]
    assert "answered HTTP 500" in report.text("discovery")
    assert "check AUTH0_ISSUER" in report.text("discovery")
    for name in ("issuer", "jwks", "client credentials", "clock", "logout url"):
        assert report.verdicts(name) == ["skip"], report.out
        assert report.text(name) == "discovery failed"
    assert report.verdicts("callback url") == ["skip"]
    assert report.text("callback url") == (
        "http://localhost:8000/auth/callback: not checked at the provider (discovery failed)"
    )
    # Checks that do not need the provider still run.
    for name in ("configuration", "cookies", "signing key", "audience"):
        assert report.verdicts(name) == ["ok"], report.out
    assert report.summary == "1 failure, 0 warnings, 7 skipped"
    assert doctor.requests["GET", "/.well-known/jwks.json"] == 0
    assert doctor.requests["POST", "/oauth/token"] == 0
    assert doctor.requests["GET", "/authorize"] == 0


def test_discovery_timeout(doctor, signing_key):
    doctor.fail("discovery", "timeout")
    report = auth_doctor()
    assert report.verdicts("discovery") == ["FAIL"]
    assert "did not answer (ReadTimeout)" in report.text("discovery")
    assert "AUTH0_HTTP_TIMEOUT is 1 s" in report.text("discovery")
    assert report.code == 1


def test_jwks_garbage(doctor, signing_key):
    doctor.fail("jwks", "garbage")
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("jwks") == ["FAIL"]
    assert "did not answer JSON" in report.text("jwks")
    assert report.verdicts("client credentials") == ["ok"]


def test_jwks_without_a_key_for_the_allowed_algorithms(doctor, signing_key, settings):
    settings.AUTH0_ALGORITHMS = ["ES256"]
    report = auth_doctor()
    assert report.verdicts("jwks") == ["FAIL"]
    assert "no signing key for ES256" in report.text("jwks")
    assert report.code == 1


def test_jwks_with_a_repeated_kid(doctor, signing_key):
    doctor.keys = [doctor.current_key, doctor.current_key]
    report = auth_doctor()
    assert report.verdicts("jwks") == ["FAIL"]
    assert f"kid '{doctor.current_key.kid}' appears more than once" in report.text("jwks")
    assert report.code == 1


def test_http_issuer_on_a_public_host(doctor, signing_key, settings):
    settings.AUTH0_ISSUER = "http://acme.eu.auth0.com/"
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("configuration") == ["FAIL"]
    assert "uses http on a host that is not loopback" in report.text("configuration")
    assert "use https://" in report.text("configuration")
    for name in [*PROVIDER_CHECKS, "callback url", "logout url", "back-channel logout"]:
        assert report.verdicts(name) == ["skip"], report.out
    assert report.summary == "1 failure, 0 warnings, 8 skipped"


def test_missing_credentials(doctor, signing_key, settings):
    settings.AUTH0_CLIENT_ID = None
    settings.AUTH0_CLIENT_SECRET = None
    report = auth_doctor()
    assert report.verdicts("configuration") == ["FAIL"]
    assert "AUTH0_CLIENT_ID is not set" in report.text("configuration")
    assert "AUTH0_CLIENT_SECRET is not set" in report.text("configuration")
    # The provider itself can still be checked; only the credentials probe is skipped.
    assert report.verdicts("jwks") == ["ok"]
    assert report.verdicts("client credentials") == ["skip"]
    assert report.code == 1


def test_no_signing_key_yet(doctor):
    """Not a failure: the first app token makes the key (keys.ensure_current_key)."""
    report = auth_doctor()
    assert report.code == 0
    assert report.verdicts("signing key") == ["warn"]
    assert "the first app token issued makes one" in report.text("signing key")
    assert "run `manage.py rotate_signing_key` to make it now" in report.text("signing key")
    assert not SigningKey.objects.exists(), "the doctor must not make a key"


@pytest.mark.parametrize("changed", ["SECRET_KEY", "SIGNING_KEY_ENCRYPTION_KEY"])
def test_undecryptable_signing_key(doctor, settings, changed):
    if changed == "SIGNING_KEY_ENCRYPTION_KEY":
        settings.SIGNING_KEY_ENCRYPTION_KEY = "the-key-the-signing-key-was-sealed-with"
    keys.ensure_current_key()
    setattr(settings, changed, "a-different-secret-than-the-one-that-sealed-it")
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("signing key") == ["FAIL"]
    assert "cannot be decrypted" in report.text("signing key")
    assert "SIGNING_KEY_ENCRYPTION_KEY (or SECRET_KEY when it is unset) changed" in report.text(
        "signing key"
    )


def test_unsupported_signing_algorithm(doctor, signing_key, settings):
    settings.SIGNING_KEY_ALGORITHM = "HS256"
    report = auth_doctor()
    assert report.verdicts("signing key") == ["FAIL"]
    assert "SIGNING_KEY_ALGORITHM='HS256' is not supported" in report.text("signing key")
    assert report.code == 1


def test_signing_key_of_another_algorithm_is_a_warning(doctor, signing_key, settings):
    settings.SIGNING_KEY_ALGORITHM = "RS256"
    report = auth_doctor()
    assert report.verdicts("signing key") == ["warn"]
    assert "but SIGNING_KEY_ALGORITHM is RS256" in report.text("signing key")
    assert report.code == 0


def test_samesite_none_without_secure(doctor, signing_key, settings):
    settings.COOKIE_SECURE = False
    report = auth_doctor()
    assert report.code == 1
    assert report.verdicts("cookies") == ["FAIL"]
    assert "SameSite=None, not Secure" in report.text("cookies")
    assert "COOKIE_SAMESITE=None requires COOKIE_SECURE=true" in report.text("cookies")
    assert "(accounts.E001)" in report.text("cookies")


def test_frontend_origin_missing_from_cors(doctor, signing_key, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    report = auth_doctor()
    assert report.verdicts("cors/csrf") == ["FAIL"]
    assert "missing from CORS_ALLOWED_ORIGINS" in report.text("cors/csrf")
    assert report.code == 1


def test_cross_site_deployment_is_a_warning(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    doctor.clients[CLIENT_ID]["redirect_uris"].append("https://api.example.com/auth/callback")
    settings.FRONTEND_ORIGINS = settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.org"]
    report = auth_doctor()
    assert report.verdicts("deployment") == ["warn"]
    assert "cross-site (web app https://app.example.org, API api.example.com)" in report.text(
        "deployment"
    )
    assert "token handoff" in report.text("deployment")
    assert report.code == 0, "warnings do not fail"
    assert report.summary == "0 failures, 1 warning"


def test_the_make_run_deployment_is_said_to_be_partly_cross_site(doctor, signing_key, settings):
    """The web app at localhost:5173 calls the API at 127.0.0.1:8000 under make run: a
    third-party cookie there, whatever ALLOWED_HOSTS's localhost would allow."""
    settings.PUBLIC_BASE_URL = None
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
    settings.FRONTEND_ORIGINS = settings.CORS_ALLOWED_ORIGINS = ["http://localhost:5173"]
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:5173"]
    report = auth_doctor()
    assert report.verdicts("deployment") == ["warn"]
    text = report.text("deployment")
    assert text.startswith("partly cross-site")
    assert "http://localhost:5173 calling the API at 127.0.0.1" in text
    assert "Safari, Firefox, incognito windows" in text
    assert "token handoff" in text


def test_same_site_lax_deployment(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    doctor.clients[CLIENT_ID]["redirect_uris"].append("https://api.example.com/auth/callback")
    settings.FRONTEND_ORIGINS = settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    settings.COOKIE_SAMESITE = "Lax"
    report = auth_doctor()
    assert report.verdicts("deployment") == ["ok"]
    assert report.text("deployment").startswith("same-site")
    assert "SameSite=Lax" in report.text("cookies")
    assert report.code == 0


def test_public_base_url_unset_is_a_warning(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = None
    report = auth_doctor()
    assert report.verdicts("callback url") == ["warn"]
    assert "PUBLIC_BASE_URL is not set" in report.text("callback url")
    assert "assuming http://127.0.0.1:8000/auth/callback" in report.text("callback url")
    assert "set PUBLIC_BASE_URL" in report.text("callback url")
    assert report.code == 0


def test_http_callback_on_a_public_host(doctor, signing_key, settings):
    settings.PUBLIC_BASE_URL = "http://api.example.com"
    report = auth_doctor()
    assert report.verdicts("callback url") == ["FAIL"]
    assert "http://api.example.com/auth/callback" in report.text("callback url")
    assert report.code == 1


def test_command_line_runs_despite_system_check_errors(tmp_path):
    """From the shell, Django would stop at accounts.E001 before the command: the doctor
    runs its system checks itself and reports them, and the shell sees exit status 1. An
    unmigrated database is reported on the signing-key line."""
    result = subprocess.run(
        [sys.executable, "manage.py", "auth_doctor"],
        cwd=ROOT,
        env=manage_env(tmp_path, COOKIE_SECURE="false", AUTH0_ISSUER="", AUTH0_DOMAIN=""),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SystemCheckError" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL  configuration       no issuer")
    assert any(line.startswith("FAIL  cookies") for line in lines)
    signing = next(line for line in lines if line[6:26].strip() == "signing key")
    assert signing.startswith("FAIL") and "manage.py migrate" in signing
    assert any(line.startswith("warn  deployment          partly cross-site") for line in lines)
    callback = next(line for line in lines if line[6:26].strip() == "callback url")
    assert callback.startswith("warn") and "not checked at the provider" in callback
    assert lines[-1] == "3 failures, 2 warnings, 7 skipped"
