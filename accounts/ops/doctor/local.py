"""The checks of this server's own settings and database: configuration, cookies / CORS /
CSRF, signing key; and the callback URL this server sends."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import ERROR, WARNING, Tags, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from joserfc.jwk import JWKRegistry

from ... import app_settings, keys
from ...models import SigningKey
from ..checks import api_hosts, site_of
from .base import (
    ASSUMED_BASE_URL,
    CALLBACK_PATH,
    FAIL,
    MESSAGE_LINES,
    OK,
    WARN,
    Check,
    issuer_problem,
    issuer_source,
    short,
)


def check_configuration() -> Check:
    """Check that AUTH0_ISSUER (or AUTH0_DOMAIN), AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET
    are set and the issuer's scheme is acceptable. The secret is described by its
    length only."""
    issuer, client_id, secret = (
        app_settings.issuer(),
        app_settings.client_id(),
        app_settings.client_secret(),
    )
    found, hints = [], []
    if not issuer:
        found.append("no issuer (neither AUTH0_ISSUER nor AUTH0_DOMAIN is set)")
        hints.append(
            "set AUTH0_DOMAIN to the tenant's domain (or AUTH0_ISSUER to its issuer URL); "
            "for development, `make run` writes a .env naming its development provider"
        )
    else:
        problem = issuer_problem(issuer)
        if problem:
            found.append(problem[0])
            hints.append(problem[1])
        elif app_settings.provider_name() != "Auth0":
            found.append(f"issuer {issuer}: {app_settings.provider_name()} (make run)")
        else:
            found.append(f"issuer {issuer} (from {issuer_source()})")
    if client_id:
        found.append(f"client id {client_id}")
    else:
        found.append("AUTH0_CLIENT_ID is not set")
        hints.append("copy the Client ID from the Auth0 application's settings")
    if secret:
        found.append(f"secret set ({len(secret)} chars)")
    else:
        found.append("AUTH0_CLIENT_SECRET is not set")
        hints.append("copy the Client Secret from the Auth0 application's settings")
    return Check(FAIL if hints else OK, "configuration", ", ".join(found), "; ".join(hints))


def callback_url() -> str:
    """Return the redirect_uri this server sends: PUBLIC_BASE_URL + /auth/callback (as
    accounts.login.begin.callback_url does when it is set), else the assumed local one."""
    return (settings.PUBLIC_BASE_URL or ASSUMED_BASE_URL) + CALLBACK_PATH


def check_cookies_and_origins() -> list[Check]:
    """Return the project's security system checks (accounts.ops.checks, corsheaders,
    Django's CSRF), each Error a FAIL and each Warning a warn, on the line they concern,
    next to the effective cookie policy, the frontend origins and the kind of
    deployment."""
    deployment = _deployment()
    summaries = {"cookies": _cookie_policy(), "cors/csrf": _origins(), "deployment": deployment}
    messages = {name: [] for name in summaries}
    for message in run_checks(tags=[Tags.security]):
        if message.level >= WARNING and not message.is_silenced():
            messages[MESSAGE_LINES.get(message.id, "cors/csrf")].append(message)
    lines = []
    for name, text in summaries.items():
        if not messages[name]:
            # Cross-site for some of the API's hosts only: no check warns, but some
            # browsers will need the token handoff there.
            partly = text.startswith("partly")
            lines.append(Check(WARN if partly else OK, name, text))
        for message in messages[name]:
            verdict = FAIL if message.level >= ERROR else WARN
            hint = f"{message.hint} ({message.id})" if message.hint else f"({message.id})"
            lines.append(Check(verdict, name, f"{text}: {message.msg}", hint))
    return lines


def _cookie_policy() -> str:
    return (
        f"SameSite={settings.COOKIE_SAMESITE}, "
        f"{'Secure' if settings.COOKIE_SECURE else 'not Secure'}, "
        f"{'Partitioned' if settings.COOKIE_PARTITIONED else 'not Partitioned'}, "
        f"domain {settings.COOKIE_DOMAIN or 'host-only (COOKIE_DOMAIN unset)'}"
    )


def _origins() -> str:
    if not settings.FRONTEND_ORIGINS:
        return "FRONTEND_ORIGINS is empty: no other origin may call the API with credentials"
    return (
        f"FRONTEND_ORIGINS {', '.join(settings.FRONTEND_ORIGINS)} (CORS with credentials, CSRF "
        "trusted origins, post-login redirects)"
    )


def _deployment() -> str:
    """Return whether the deployment is same-site or cross-site, by the same site
    approximation as accounts.ops.checks, with what it means for the session cookie."""
    if not settings.FRONTEND_ORIGINS:
        return "no separate web app: only pages of this server's own origin use its cookies"
    hosts = api_hosts()
    pairs = [
        (origin, host)
        for origin in settings.FRONTEND_ORIGINS
        for host in hosts
        if site_of(urlsplit(origin).hostname or "") != site_of(host)
    ]
    where = f"web app {', '.join(settings.FRONTEND_ORIGINS)}, API {', '.join(hosts)}"
    if not pairs:
        return (
            f"same-site ({where}): the session cookie is first-party, so cookie sessions work "
            "in every browser"
        )
    cross = ", ".join(f"{origin} calling the API at {host}" for origin, host in pairs)
    kind = (
        "cross-site"
        if len(pairs) == len(hosts) * len(settings.FRONTEND_ORIGINS)
        else ("partly cross-site")
    )
    if settings.COOKIE_SAMESITE == "None":
        return (
            f"{kind} ({where}): for {cross}, the session cookie is a third-party cookie, "
            "which Safari, Firefox, incognito windows and Chromium without third-party "
            "cookies do not send: there the web app must log in with the token handoff "
            "(mode=token); Chrome with default settings sends it"
        )
    return (
        f"{kind} ({where}): for {cross}, with SameSite={settings.COOKIE_SAMESITE} the session "
        "cookie is never sent, so the web app must log in with the token handoff (mode=token)"
    )


def check_signing_key() -> Check:
    """Check that a current app-token signing key exists and decrypts with the configured
    secret, and that SIGNING_KEY_ALGORITHM is supported. Read only: a missing key is
    reported, not made."""
    name = "signing key"
    try:
        algorithm = keys.configured_algorithm()
    except ImproperlyConfigured as exc:
        return Check(FAIL, name, str(exc), "set SIGNING_KEY_ALGORITHM to a supported algorithm")
    try:
        current = SigningKey.objects.filter(is_current=True).first()
    except DatabaseError as exc:
        return Check(
            FAIL,
            name,
            f"the signing keys cannot be read ({exc.__class__.__name__}: {exc})",
            "check DATABASE_URL and run `manage.py migrate`",
        )
    if current is None:
        return Check(
            WARN,
            name,
            "no signing key yet: the first app token issued makes one",
            "run `manage.py rotate_signing_key` to make it now and check it here",
        )
    try:
        JWKRegistry.import_key(keys.decrypt_private_key(current.kid, current.private_key_encrypted))
    except keys.SigningKeyUnavailable as exc:
        return Check(
            FAIL,
            name,
            str(exc),
            "restore the secret it was sealed with, or rotate as it says (tokens already "
            "issued keep verifying)",
        )
    secret = (
        "SIGNING_KEY_ENCRYPTION_KEY"
        if settings.SIGNING_KEY_ENCRYPTION_KEY
        else "SECRET_KEY (SIGNING_KEY_ENCRYPTION_KEY unset)"
    )
    found = (
        f"current key {short(current.kid)} ({current.algorithm}, made "
        f"{current.created_at:%Y-%m-%d}) decrypts with {secret}"
    )
    if current.algorithm != algorithm:
        return Check(
            WARN,
            name,
            f"{found}, but SIGNING_KEY_ALGORITHM is {algorithm}",
            "run `manage.py rotate_signing_key` to switch algorithm",
        )
    return Check(OK, name, found)
