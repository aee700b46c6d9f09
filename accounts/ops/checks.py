"""System checks for configuration that would break login in a browser or weaken it.

Run by every management command and at server start (`manage.py check --deploy` too).
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from ..ratelimit import parse_rate

# The checks of the settings alone, which servers run at start (authsite.config).
CONFIGURATION = "configuration"
SAME_SITE_DOCS = "docs/operations.md, section 'Same-site or cross-site deployment'"


def site_of(host: str) -> str:
    """Return an approximation of the registrable domain ("site") without the Public
    Suffix List: IP addresses and single-label hosts are their own site; otherwise the last
    two labels. It errs towards calling two hosts cross-site (the warning case) only
    for multi-label public suffixes such as `co.uk`, where it says same-site."""
    host = host.lower().strip("[]")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def api_hosts() -> list[str]:
    if settings.PUBLIC_BASE_URL:
        return [urlsplit(settings.PUBLIC_BASE_URL).hostname or ""]
    return [host.lstrip(".") for host in settings.ALLOWED_HOSTS if host not in ("*", "")]


@register(Tags.security, CONFIGURATION)
def check_cookie_policy(app_configs, **kwargs):
    problems = []
    if settings.COOKIE_SAMESITE == "None" and not settings.COOKIE_SECURE:
        problems.append(
            Error(
                "COOKIE_SAMESITE=None requires COOKIE_SECURE=true.",
                hint="Browsers reject SameSite=None cookies without Secure; set COOKIE_SECURE=true "
                "(and serve over HTTPS), or use COOKIE_SAMESITE=Lax for a same-site deployment.",
                id="accounts.E001",
            )
        )
    if settings.COOKIE_PARTITIONED and not settings.COOKIE_SECURE:
        problems.append(
            Error(
                "COOKIE_PARTITIONED=true requires COOKIE_SECURE=true.",
                hint="Browsers ignore Partitioned cookies that are not Secure.",
                id="accounts.E002",
            )
        )
    return problems


@register(Tags.security, CONFIGURATION)
def check_frontend_origins(app_configs, **kwargs):
    problems = []
    for origin in settings.FRONTEND_ORIGINS:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            problems.append(
                Error(
                    f"FRONTEND_ORIGINS entry {origin!r} is not an origin.",
                    hint="Write origins as scheme://host[:port], without a path.",
                    id="accounts.E003",
                )
            )
            continue
        if origin not in settings.CORS_ALLOWED_ORIGINS:
            problems.append(
                Error(
                    f"Frontend origin {origin!r} is missing from CORS_ALLOWED_ORIGINS.",
                    hint="The web app's credentialed requests would be blocked by the browser.",
                    id="accounts.E004",
                )
            )
        if origin not in settings.CSRF_TRUSTED_ORIGINS:
            problems.append(
                Error(
                    f"Frontend origin {origin!r} is missing from CSRF_TRUSTED_ORIGINS.",
                    hint="Every unsafe request from the web app would fail the CSRF Origin check.",
                    id="accounts.E005",
                )
            )
    if settings.COOKIE_SAMESITE == "None":
        api_sites = {site_of(host) for host in api_hosts()}
        cross = [
            origin
            for origin in settings.FRONTEND_ORIGINS
            if urlsplit(origin).hostname and site_of(urlsplit(origin).hostname) not in api_sites
        ]
        if cross:
            problems.append(
                Warning(
                    f"The web app at {', '.join(cross)} is on another site than this API: its "
                    "session cookie is a third-party cookie there.",
                    hint="Safari, Firefox, incognito windows and Chromium without third-party "
                    "cookies will not send it; the web app must use the token handoff "
                    "(/auth/login?mode=token). Prefer one site for both (app.example.com + "
                    f"api.example.com with COOKIE_SAMESITE=Lax): see {SAME_SITE_DOCS}.",
                    id="accounts.W001",
                )
            )
    return problems


@register(CONFIGURATION)
def check_rate_limits(app_configs, **kwargs):
    problems = []
    for name in ("RATE_LIMIT_LOGIN", "RATE_LIMIT_TOKEN"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            problems.append(
                Error(f"{name}: {exc}.", hint="Write a count per unit: 30/m, 5/s, 1000/h.",
                      id="accounts.E006")
            )  # fmt: skip
    return problems


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@register(CONFIGURATION)
def check_issuer_scheme(app_configs, **kwargs):
    issuer = settings.AUTH0_ISSUER
    if not issuer:
        return []
    parts = urlsplit(issuer)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return []
    return [
        Error(
            f"AUTH0_ISSUER {issuer!r} must be https (http only for loopback hosts).",
            hint="Tokens and discovery would travel unprotected; use the https issuer URL.",
            id="accounts.E007",
        )
    ]


HOP_FREE_MIDDLEWARE = (
    "authsite.middleware.SecurityMiddleware",
    "authsite.middleware.CsrfViewMiddleware",
    "authsite.middleware.XFrameOptionsMiddleware",
)


@register(Tags.security, deploy=True)
def check_deployment_security(app_configs, **kwargs):
    """Warn as Django's security.W001–W004 would, for this project's middleware."""
    problems = [
        Warning(
            f"{path} is not in MIDDLEWARE.",
            hint="It sets the security headers, checks CSRF and denies framing.",
            id="accounts.W002",
        )
        for path in HOP_FREE_MIDDLEWARE
        if path not in settings.MIDDLEWARE
    ]
    if not settings.SECURE_HSTS_SECONDS:
        problems.append(
            Warning(
                "SECURE_HSTS_SECONDS is 0: browsers are not told to use HTTPS only.",
                hint="Leave it at its production default (a year), or send HSTS from the proxy.",
                id="accounts.W003",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_admin_sign_in(app_configs, **kwargs):
    """Warn about an admin whose password form is on in production, or on while a
    multi-factor login is required (a password is one factor: it cannot enter then)."""
    if not settings.ADMIN_PASSWORD_LOGIN:
        return []
    if settings.ADMIN_MFA_REQUIRED:
        return [
            Warning(
                "ADMIN_PASSWORD_LOGIN is on while ADMIN_MFA_REQUIRED is on: a password "
                "sign-in is one factor, so the admin sends it to the identity provider.",
                hint="Turn ADMIN_PASSWORD_LOGIN off, or both switches only for break-glass "
                "access while the identity provider is down.",
                id="accounts.W004",
            )
        ]
    if not settings.DEBUG:
        return [
            Warning(
                "ADMIN_PASSWORD_LOGIN is on and ADMIN_MFA_REQUIRED off: the admin accepts a "
                "password alone.",
                hint="Use this only for break-glass access, and switch both back afterwards.",
                id="accounts.W005",
            )
        ]
    return []


@register(CONFIGURATION)
def check_identity_provider(app_configs, **kwargs):
    """Error when the identity provider is configured in part: a login would fail at
    the provider, or (without a secret) at the code exchange."""
    parts = {
        "AUTH0_DOMAIN or AUTH0_ISSUER": settings.AUTH0_ISSUER,
        "AUTH0_CLIENT_ID": settings.AUTH0_CLIENT_ID,
        "AUTH0_CLIENT_SECRET": settings.AUTH0_CLIENT_SECRET,
    }
    missing = [name for name, value in parts.items() if not value]
    if settings.AUTH0_AUDIENCE and not settings.AUTH0_ISSUER:
        return [
            Error(
                "AUTH0_AUDIENCE is set, but no identity provider (AUTH0_DOMAIN or "
                "AUTH0_ISSUER) is.",
                hint="Set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET, or remove "
                "AUTH0_AUDIENCE.",
                id="accounts.E008",
            )
        ]
    if not missing or len(missing) == len(parts):
        return []
    return [
        Error(
            f"The identity provider is configured in part: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing.",
            hint="Set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET together (the "
            "regular web application's credentials in Auth0), or none of them.",
            id="accounts.E008",
        )
    ]


@register(deploy=True)
def check_production_settings(app_configs, **kwargs):
    """Warn, with DEBUG off, about what works for one developer but not in production:
    no identity provider, a cache or database that one process keeps to itself, a base
    URL taken from each request, no web app origin."""
    if settings.DEBUG:
        return []
    problems = []
    if not settings.AUTH0_ISSUER:
        problems.append(
            Warning(
                "No identity provider is configured: nobody can log in.",
                hint="Set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET.",
                id="accounts.W006",
            )
        )
    if settings.CACHES["default"]["BACKEND"] == "authsite.cache.LocMemCache":
        problems.append(
            Warning(
                "CACHE_URL is unset: each process keeps its own local-memory cache.",
                hint="With more than one worker, a login started on one fails on another "
                "and rate limits count per process; set CACHE_URL=redis://host:6379/0.",
                id="accounts.W007",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        problems.append(
            Warning(
                "DATABASE_URL is SQLite: one writer at a time, on this machine only.",
                hint="Set DATABASE_URL=postgres://user:password@host:5432/name.",
                id="accounts.W008",
            )
        )
    if not settings.PUBLIC_BASE_URL:
        problems.append(
            Warning(
                "PUBLIC_BASE_URL is unset: the token issuer and the login's redirect_uri "
                "are taken from each request's host.",
                hint="Set PUBLIC_BASE_URL to the server's external URL, such as "
                "https://api.example.com.",
                id="accounts.W009",
            )
        )
    if not settings.FRONTEND_ORIGINS:
        problems.append(
            Warning(
                "FRONTEND_ORIGINS is empty: no web app may call the API with credentials or "
                "be sent back to after a login.",
                hint="Set FRONTEND_ORIGINS to the web app's origin, such as "
                "https://app.example.com.",
                id="accounts.W010",
            )
        )
    return problems
