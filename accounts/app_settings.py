"""Typed access to the project's own settings, read at call time so that tests and
operators can change them without re-importing modules."""

from django.conf import settings


def issuer() -> str | None:
    """Return the identity provider's issuer URL exactly as configured (AUTH0_ISSUER,
    else https://AUTH0_DOMAIN/); the `iss` of tokens must equal the issuer discovery
    states."""
    return settings.AUTH0_ISSUER


def provider_name() -> str:
    """Return what the sign-in pages call the identity provider: the development one
    under ``make run`` (DEBUG, issuer at DEVIDP_URL), else Auth0."""
    issuer = settings.AUTH0_ISSUER or ""
    if settings.DEBUG and issuer.rstrip("/") == settings.DEVIDP_URL.rstrip("/"):
        return "the development identity provider"
    return "Auth0"


def discovery_url(issuer_url: str) -> str:
    """Return `<issuer>.well-known/openid-configuration` with exactly one slash between."""
    return issuer_url.rstrip("/") + "/.well-known/openid-configuration"


def client_id() -> str | None:
    return settings.AUTH0_CLIENT_ID


def client_secret() -> str | None:
    return settings.AUTH0_CLIENT_SECRET


def audience() -> str | None:
    return settings.AUTH0_AUDIENCE


def scope() -> str:
    return settings.AUTH0_SCOPE


def organization_required() -> bool:
    return settings.AUTH0_ORGANIZATION_REQUIRED


def id_token_algorithms() -> list[str]:
    return [alg for alg in settings.AUTH0_ALGORITHMS if alg != "none" and not alg.startswith("HS")]


def http_timeout() -> float:
    return settings.AUTH0_HTTP_TIMEOUT


def metadata_ttl() -> int:
    return settings.AUTH0_METADATA_TTL
