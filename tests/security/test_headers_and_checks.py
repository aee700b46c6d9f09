"""Security headers on what the server sends, forwarded headers only from trusted
proxies, and the system checks that guard the configuration."""

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/healthz", "/auth/callback"])
def test_security_headers_on_every_answer(client, path):
    response = client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_on_https_answers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/healthz")


def test_hsts_is_on_by_default_in_production():
    from authsite import settings as production

    assert production.DEBUG or production.SECURE_HSTS_SECONDS == 31536000


def test_forwarded_proto_from_an_untrusted_peer_does_not_make_a_request_secure(client, settings):
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    spoofed = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    proxied = client.get(
        "/healthz", headers={"X-Forwarded-Proto": "https"}, REMOTE_ADDR="127.0.0.1"
    )
    assert proxied["Strict-Transport-Security"] == "max-age=600"


def _ids(**kwargs):
    return {problem.id for problem in run_checks(**kwargs)}


def test_http_issuer_on_a_public_host_is_an_error(settings):
    settings.AUTH0_ISSUER = "http://tenant.example/"
    assert "accounts.E007" in _ids()
    settings.AUTH0_ISSUER = "http://127.0.0.1:9000/"
    assert "accounts.E007" not in _ids()


def test_samesite_none_without_secure_is_an_error(settings):
    settings.COOKIE_SAMESITE = "None"
    settings.COOKIE_SECURE = False
    assert "accounts.E001" in _ids()


def test_frontend_origin_missing_from_cors_is_an_error(settings):
    settings.FRONTEND_ORIGINS = ["https://app.example"]
    settings.CORS_ALLOWED_ORIGINS = []
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example"]
    assert "accounts.E004" in _ids()


def test_cross_site_deployment_is_warned_about(settings):
    settings.COOKIE_SAMESITE = "None"
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    settings.FRONTEND_ORIGINS = ["https://app.other.com"]
    settings.CORS_ALLOWED_ORIGINS = settings.CSRF_TRUSTED_ORIGINS = ["https://app.other.com"]
    assert "accounts.W001" in _ids()
    settings.FRONTEND_ORIGINS = ["https://app.example.com"]
    settings.CORS_ALLOWED_ORIGINS = settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert "accounts.W001" not in _ids()


def test_bad_rate_is_an_error(settings):
    settings.RATE_LIMIT_LOGIN = "lots"
    assert "accounts.E006" in _ids()


def test_deploy_checks_see_the_hop_free_middleware(settings):
    settings.SECURE_HSTS_SECONDS = 0
    ids = _ids(include_deployment_checks=True)
    assert "accounts.W003" in ids
    assert "accounts.W002" not in ids


def test_content_security_policy_on_every_answer(client):
    policy = client.get("/api/v1/auth/me")["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'"):  # fmt: skip
        assert directive in policy
    page = client.get("/auth/callback")
    nonce = page["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in page.content.decode()


def test_deploy_checks_warn_about_the_admin_s_password_form(settings):
    settings.ADMIN_PASSWORD_LOGIN = False
    ids = _ids(include_deployment_checks=True)
    assert "accounts.W004" not in ids and "accounts.W005" not in ids
    settings.ADMIN_PASSWORD_LOGIN = True
    settings.ADMIN_MFA_REQUIRED = True
    assert "accounts.W004" in _ids(include_deployment_checks=True)
    settings.ADMIN_MFA_REQUIRED = False
    assert "accounts.W005" in _ids(include_deployment_checks=True)
