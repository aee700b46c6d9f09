"""The configuration line: which settings are present, and API.md's issuer rule (https,
or http only for loopback hosts). Pure settings checks: nothing is fetched."""

import pytest

from accounts.ops.doctor.base import usable_issuer
from accounts.ops.doctor.local import check_configuration


@pytest.fixture
def configured(settings):
    settings.AUTH0_DOMAIN = None
    settings.AUTH0_CLIENT_ID = "abc123"
    settings.AUTH0_CLIENT_SECRET = "s" * 48
    return settings


@pytest.mark.parametrize(
    "issuer",
    [
        "https://acme.eu.auth0.com/",
        "http://127.0.0.1:9000/",
        "http://127.10.20.30/",
        "http://localhost:9000/",
        "http://[::1]:9000/",
    ],
)
def test_accepted_issuers(configured, issuer):
    configured.AUTH0_ISSUER = issuer
    check = check_configuration()
    assert check.verdict == "ok"
    assert (
        check.found
        == f"issuer {issuer} (from AUTH0_ISSUER), client id abc123, secret set (48 chars)"
    )
    assert "s" * 48 not in check.line()
    assert usable_issuer() == issuer


@pytest.mark.parametrize(
    ("issuer", "problem"),
    [
        ("http://acme.eu.auth0.com/", "uses http on a host that is not loopback"),
        ("http://128.0.0.1/", "uses http on a host that is not loopback"),
        ("http://localhost.example.com/", "uses http on a host that is not loopback"),
        ("acme.eu.auth0.com", "is not an absolute http(s) URL"),
        ("ftp://acme.eu.auth0.com/", "is not an absolute http(s) URL"),
    ],
)
def test_refused_issuers(configured, issuer, problem):
    configured.AUTH0_ISSUER = issuer
    check = check_configuration()
    assert check.verdict == "FAIL"
    assert f"AUTH0_ISSUER {issuer!r} {problem}" in check.found
    assert check.hint
    assert usable_issuer() is None


def test_issuer_from_domain(configured):
    configured.AUTH0_DOMAIN = "acme.eu.auth0.com"
    configured.AUTH0_ISSUER = "https://acme.eu.auth0.com/"
    check = check_configuration()
    assert check.verdict == "ok"
    assert "issuer https://acme.eu.auth0.com/ (from AUTH0_DOMAIN)" in check.found


def test_domain_written_as_a_url(configured):
    configured.AUTH0_DOMAIN = "https://acme.eu.auth0.com"
    configured.AUTH0_ISSUER = "https://https://acme.eu.auth0.com/"
    check = check_configuration()
    assert check.verdict == "FAIL"
    assert "AUTH0_DOMAIN 'https://acme.eu.auth0.com' is not a bare host name" in check.found
    assert usable_issuer() is None


def test_nothing_configured(configured):
    configured.AUTH0_ISSUER = configured.AUTH0_CLIENT_ID = configured.AUTH0_CLIENT_SECRET = None
    check = check_configuration()
    assert check.verdict == "FAIL"
    assert "neither AUTH0_ISSUER nor AUTH0_DOMAIN is set" in check.found
    assert "AUTH0_CLIENT_ID is not set" in check.found
    assert "AUTH0_CLIENT_SECRET is not set" in check.found
    assert "set AUTH0_DOMAIN" in check.hint
