"""The Auth0 configuration checked end to end, for `manage.py auth_doctor`.

`diagnose()` returns one `Check` per line, in a fixed order: configuration, discovery,
issuer, JWKS, client credentials, callback URL, clock, cookies / CORS / CSRF (the
project's own system checks), signing key, audience. A check that needs an earlier one
that failed is a `skip` naming the reason, never a second failure for the same cause.

The doctor only reads. It fetches discovery and the JWKS fresh (never from the shared
cache, which may hold a stale copy that hides an outage), never creates a signing key,
and never prints the client secret. The HTTP checks run in one event loop; the
database is read after that loop has closed, so no ORM call runs inside it.
"""

import asyncio
import ipaddress
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from django.conf import settings
from django.core.checks import ERROR, WARNING, Tags, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, KeySet

from . import app_settings, keys
from .checks import _api_hosts, _site
from .models import SigningKey
from .oidc.errors import ProviderUnavailable
from .oidc.http import get_json, oauth_client
from .oidc.metadata import REQUIRED_METADATA
from .oidc.tokens import LEEWAY

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"

# A code no provider ever issued: the token endpoint authenticates the client first, so
# `invalid_grant` proves the credentials were accepted and only the code was refused.
PROBE_CODE = "auth-doctor-probe"
# Where the server is assumed to listen when PUBLIC_BASE_URL is unset (`manage.py runserver`).
ASSUMED_BASE_URL = "http://127.0.0.1:8000"
CALLBACK_PATH = "/auth/callback"
CLOCK_OK_BELOW = 30
CLOCK_WARN_BELOW = 120

# System-check messages are shown on the line of what they concern; everything else the
# security checks report (CORS, CSRF, origins) is shown on the cors/csrf line.
_MESSAGE_LINES = {
    "accounts.E001": "cookies",
    "accounts.E002": "cookies",
    "accounts.W001": "deployment",
}
_AUDIENCE_WITHOUT_SCHEME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?(/\S*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """One line of the report: a verdict (ok, warn, FAIL, skip), the check's name, what
    was found, and for anything not ok a hint saying what to do."""

    verdict: str
    name: str
    found: str
    hint: str = ""

    def line(self) -> str:
        text = f"{self.found} — {self.hint}" if self.hint else self.found
        return f"{self.verdict:<6}{self.name:<20}{text}"


def skipped(name: str, reason: str) -> Check:
    """A check not run because one it depends on failed; ``reason`` names that one."""
    return Check(SKIP, name, reason)


def failed(checks: Iterable[Check]) -> bool:
    """Whether any check failed (warnings and skips do not fail the run)."""
    return any(check.verdict == FAIL for check in checks)


def summary(checks: list[Check]) -> str:
    """The final line: failures and warnings counted, and skips when there were any."""
    counts = Counter(check.verdict for check in checks)
    parts = [_plural(counts[FAIL], "failure"), _plural(counts[WARN], "warning")]
    if counts[SKIP]:
        parts.append(f"{counts[SKIP]} skipped")
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _short(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: the only hosts API.md lets speak plain http."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, setting: str) -> tuple[str, str] | None:
    """(problem, hint) unless ``url`` is an absolute https URL, or an http URL on a
    loopback host; None when it is acceptable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{setting} {url!r} is not an absolute http(s) URL", "write it as https://host/"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (
            f"{setting} {url!r} uses http on a host that is not loopback",
            f"use https:// in {setting} (http is accepted only for 127.0.0.0/8, localhost "
            "and [::1])",
        )
    return None


def _issuer_source() -> str:
    """Which setting the issuer comes from, so that hints name the one to change."""
    domain, issuer = settings.AUTH0_DOMAIN, app_settings.issuer()
    if domain and issuer == f"https://{domain}/":
        return "AUTH0_DOMAIN"
    return "AUTH0_ISSUER"


# --- 1. configuration -----------------------------------------------------------------


def issuer_problem(issuer: str) -> tuple[str, str] | None:
    """(problem, hint) when the configured issuer cannot be used, naming the setting it
    came from; None when discovery may be fetched from it."""
    source = _issuer_source()
    if source == "AUTH0_DOMAIN" and "/" in settings.AUTH0_DOMAIN:
        return (
            f"AUTH0_DOMAIN {settings.AUTH0_DOMAIN!r} is not a bare host name",
            "write the domain alone (acme.eu.auth0.com), or set AUTH0_ISSUER to the full URL",
        )
    return url_problem(issuer, source)


def usable_issuer() -> str | None:
    """The configured issuer when discovery may be fetched from it, else None."""
    issuer = app_settings.issuer()
    if not issuer or issuer_problem(issuer):
        return None
    return issuer


def check_configuration() -> Check:
    """AUTH0_ISSUER (or AUTH0_DOMAIN), AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET are set and
    the issuer's scheme is acceptable. The secret is described by its length only."""
    issuer, client_id, secret = (
        app_settings.issuer(),
        app_settings.client_id(),
        app_settings.client_secret(),
    )
    found, hints = [], []
    if not issuer:
        found.append("no issuer (neither AUTH0_ISSUER nor AUTH0_DOMAIN is set)")
        hints.append("set AUTH0_DOMAIN to the tenant's domain (or AUTH0_ISSUER to its issuer URL)")
    else:
        problem = issuer_problem(issuer)
        if problem:
            found.append(problem[0])
            hints.append(problem[1])
        else:
            found.append(f"issuer {issuer} (from {_issuer_source()})")
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


# --- 2-5 and 7: the provider over HTTP ------------------------------------------------


@dataclass(frozen=True)
class ProviderReport:
    discovery: Check
    issuer: Check
    jwks: Check
    credentials: Check
    clock: Check


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


async def probe_provider(issuer: str, redirect_uri: str) -> ProviderReport:
    """Fetch discovery fresh, then judge the issuer, the JWKS, the client credentials
    and the clock from it. Everything after discovery is skipped when it fails."""
    url = app_settings.discovery_url(issuer)
    started = time.perf_counter()
    try:
        document, response = await get_json(url)
    except ProviderUnavailable as exc:
        return _provider_down(
            exc.reason,
            f"check {_issuer_source()} and that this server reaches the provider (DNS, "
            f"firewall, outbound proxy; AUTH0_HTTP_TIMEOUT is {app_settings.http_timeout():g} s)",
        )
    elapsed, received_at = _elapsed_ms(started), time.time()
    missing = [name for name in REQUIRED_METADATA if not isinstance(document.get(name), str)]
    if missing:
        return _provider_down(
            f"{url} lacks {', '.join(missing)}",
            f"{_issuer_source()} must point at an OpenID Connect provider (the Auth0 tenant)",
        )
    jwks = await check_jwks(document["jwks_uri"])
    if app_settings.client_id() and app_settings.client_secret():
        credentials = await check_credentials(document["token_endpoint"], redirect_uri)
    else:
        credentials = skipped(
            "client credentials", "client id or secret not set (see configuration)"
        )
    return ProviderReport(
        discovery=Check(OK, "discovery", f"{response.status_code} in {elapsed} ms from {url}"),
        issuer=compare_issuer(document["issuer"], issuer),
        jwks=jwks,
        credentials=credentials,
        clock=check_clock(response.headers.get("date"), received_at),
    )


def _provider_down(found: str, hint: str) -> ProviderReport:
    reason = "discovery failed"
    return ProviderReport(
        discovery=Check(FAIL, "discovery", found, hint),
        issuer=skipped("issuer", reason),
        jwks=skipped("jwks", reason),
        credentials=skipped("client credentials", reason),
        clock=skipped("clock", reason),
    )


def compare_issuer(stated: str, configured: str) -> Check:
    """Discovery's `issuer` must equal the configured issuer exactly: ID tokens carry the
    provider's spelling. Says precisely what differs. A difference of one trailing slash
    is a warning: logins still work (tokens are checked against discovery's spelling),
    but the configuration should say what the provider says."""
    if stated == configured:
        return Check(OK, "issuer", f"{stated!r} as configured")
    source = _issuer_source()
    found = f"discovery says {stated!r} but {source} gives {configured!r}"
    if stated == configured + "/":
        return Check(
            WARN,
            "issuer",
            found + ": the trailing slash is missing (logins work: tokens are checked "
            "against discovery's spelling)",
            f"add the trailing slash (AUTH0_ISSUER={stated}), or set AUTH0_DOMAIN instead",
        )
    if configured == stated + "/":
        return Check(
            WARN,
            "issuer",
            found + ": the configured issuer has an extra trailing slash (logins work)",
            f"set AUTH0_ISSUER={stated} exactly",
        )
    want, got = urlsplit(stated), urlsplit(configured)
    differences = [
        f"{part} {getattr(got, part)!r} instead of {getattr(want, part)!r}"
        for part in ("scheme", "netloc", "path")
        if getattr(want, part) != getattr(got, part)
    ]
    return Check(
        FAIL,
        "issuer",
        f"{found}: {'; '.join(differences) or 'they differ'}",
        f"set AUTH0_ISSUER={stated} exactly (with a custom domain, Auth0 states that domain)",
    )


async def check_jwks(jwks_uri: str) -> Check:
    """Fetch the JWKS fresh and judge it with `judge_jwks`."""
    started = time.perf_counter()
    try:
        document, _ = await get_json(jwks_uri)
    except ProviderUnavailable as exc:
        return Check(
            FAIL,
            "jwks",
            exc.reason,
            "the provider's jwks_uri must serve its signing "
            "keys as a JSON Web Key Set; check the provider's status and any proxy",
        )
    return judge_jwks(document, app_settings.id_token_algorithms(), _elapsed_ms(started))


def judge_jwks(document: dict, algorithms: list[str], elapsed_ms: int) -> Check:
    """The key set parses with joserfc, every key has a kid and no kid repeats, and at
    least one key can verify an algorithm of the allow-list."""
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        return Check(FAIL, "jwks", "the key set has no keys", "the provider publishes no keys")
    try:
        KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        return Check(
            FAIL,
            "jwks",
            f"the keys do not parse ({exc.__class__.__name__}: {exc})",
            "the provider's jwks_uri serves something that is not a usable key set",
        )
    if not algorithms:
        return Check(
            FAIL,
            "jwks",
            f"AUTH0_ALGORITHMS={settings.AUTH0_ALGORITHMS} allows nothing usable",
            "name the tenant's signing algorithm (RS256); none and HS* are never accepted",
        )
    kids = [entry.get("kid") for entry in entries]
    repeated = sorted(kid for kid, count in Counter(kids).items() if kid and count > 1)
    signing = [entry for entry in entries if _can_verify(entry, algorithms)]
    problems = []
    if not all(kids):
        problems.append(f"{sum(1 for kid in kids if not kid)} key(s) without a kid")
    if repeated:
        problems.append(f"kid {', '.join(map(repr, repeated))} appears more than once")
    if not signing:
        problems.append(f"no signing key for {', '.join(algorithms)}")
    if problems:
        return Check(
            FAIL,
            "jwks",
            f"{len(entries)} key(s): {'; '.join(problems)}",
            "tokens must name their key by a unique kid, and AUTH0_ALGORITHMS must include the "
            "tenant's signing algorithm (Auth0: RS256 unless the application says otherwise)",
        )
    names = ", ".join(_short(entry["kid"]) for entry in signing)
    return Check(
        OK,
        "jwks",
        f"{len(entries)} key(s) in {elapsed_ms} ms, signing key(s) for "
        f"{', '.join(algorithms)}: {names}",
    )


def _can_verify(entry: dict, algorithms: list[str]) -> bool:
    """A signature key whose `alg` is allowed or, without `alg`, whose key type fits one."""
    if entry.get("use", "sig") != "sig":
        return False
    if "alg" in entry:
        return entry["alg"] in algorithms
    key_types = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
    return any(key_types.get(alg[:2]) == entry.get("kty") for alg in algorithms)


CREDENTIALS_REFUSED_HINT = (
    "check AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET against the Auth0 application; it must be "
    "a Regular Web Application whose authentication method is Client Secret (Post)"
)
# RFC 6749's answers to a client that failed to authenticate, and Auth0's own: a wrong
# client id or secret at the code exchange is `access_denied` "Unauthorized" (HTTP 401).
CLIENT_REFUSALS = ("invalid_client", "unauthorized_client", "access_denied")


def judge_token_error(token_endpoint: str, error: str, description: str | None) -> Check:
    """What the token endpoint's OAuth error says about the client credentials, given
    that the code presented was made up."""
    name = "client credentials"
    said = f"{error}: {description}" if description else error
    if error == "invalid_grant":
        return Check(
            OK,
            name,
            f"accepted by {token_endpoint} (a made-up code was refused with invalid_grant, as it "
            "should be)",
        )
    if error in CLIENT_REFUSALS:
        return Check(
            FAIL, name, f"the token endpoint refused this client ({said})", CREDENTIALS_REFUSED_HINT
        )
    hint = (
        "enable the Authorization Code grant for the application (Advanced Settings → Grant Types)"
        if error == "unsupported_grant_type"
        else "a made-up code should be refused with invalid_grant; see what the provider said"
    )
    return Check(FAIL, name, f"the token endpoint answered {said}", hint)


async def check_credentials(token_endpoint: str, redirect_uri: str) -> Check:
    """Present the client credentials (client_secret_post, through the same authlib
    client as the login) with a made-up code; see `judge_token_error`."""
    client = oauth_client(redirect_uri=redirect_uri)
    name = "client credentials"
    try:
        await client.fetch_token(token_endpoint, grant_type="authorization_code", code=PROBE_CODE)
    except OAuthError as exc:
        return judge_token_error(token_endpoint, exc.error, exc.description)
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        if status == 401:
            return Check(
                FAIL, name, "the token endpoint answered HTTP 401", CREDENTIALS_REFUSED_HINT
            )
        return Check(
            FAIL,
            name,
            f"the token endpoint answered HTTP {status}",
            "the provider failed; try again and check its status page",
        )
    except httpx2.HTTPError as exc:
        return Check(
            FAIL,
            name,
            f"{token_endpoint} did not answer ({exc.__class__.__name__})",
            f"check that this server reaches the provider (AUTH0_HTTP_TIMEOUT is "
            f"{app_settings.http_timeout():g} s)",
        )
    except (ValueError, TypeError) as exc:
        return Check(
            FAIL,
            name,
            f"the token endpoint answered nonsense ({exc})",
            "the token endpoint must answer OAuth 2.0 JSON",
        )
    return Check(
        FAIL,
        name,
        "the token endpoint issued tokens for a made-up code",
        "this is not a trustworthy OAuth 2.0 provider",
    )


def check_clock(date_header: str | None, now: float) -> Check:
    """This server's clock against the provider's `Date` header (one-second resolution):
    ok under CLOCK_OK_BELOW seconds apart, warn under CLOCK_WARN_BELOW, FAIL beyond."""
    if not date_header:
        return Check(
            WARN,
            "clock",
            "the provider sent no Date header, so skew is unknown",
            "make sure this server's clock is synchronised (NTP)",
        )
    try:
        provider_time = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return Check(
            WARN,
            "clock",
            f"the provider's Date header {date_header!r} does not parse",
            "make sure this server's clock is synchronised (NTP)",
        )
    skew = provider_time - now
    found = (
        f"this server's clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} "
        "the provider's"
        if abs(skew) >= 1
        else "this server's clock is within 1 s of the provider's"
    )
    if abs(skew) < CLOCK_OK_BELOW:
        return Check(OK, "clock", found)
    hint = (
        f"synchronise this server's clock (NTP: chrony or systemd-timesyncd); ID tokens' iat "
        f"and exp are checked with a {LEEWAY} s leeway"
    )
    return Check(WARN if abs(skew) < CLOCK_WARN_BELOW else FAIL, "clock", found, hint)


# --- 6. callback URL --------------------------------------------------------------------


def callback_url() -> str:
    """The redirect_uri this server sends: PUBLIC_BASE_URL + /auth/callback (as
    accounts.flows.login.callback_url does when it is set), else the assumed local one."""
    return (settings.PUBLIC_BASE_URL or ASSUMED_BASE_URL) + CALLBACK_PATH


def check_callback_url() -> Check:
    """The redirect URI is https (or loopback http) and printed for comparison with the
    application's Allowed Callback URLs, which only the Management API could read."""
    uri = callback_url()
    compare = (
        "it must be listed exactly in the Auth0 application's Allowed Callback URLs (this "
        "server cannot read that list without the Management API)"
    )
    if not settings.PUBLIC_BASE_URL:
        return Check(
            WARN,
            "callback url",
            f"PUBLIC_BASE_URL is not set, so redirect_uri follows each request's host; assuming "
            f"{uri}: {compare}",
            "set PUBLIC_BASE_URL to this server's external https URL in production",
        )
    problem = url_problem(settings.PUBLIC_BASE_URL, "PUBLIC_BASE_URL")
    if problem:
        return Check(
            FAIL,
            "callback url",
            f"{uri}: {problem[0]}",
            problem[1] + "; Auth0 refuses http callbacks except on localhost",
        )
    return Check(OK, "callback url", f"{uri}: {compare}")


# --- 8. cookies, CORS, CSRF -------------------------------------------------------------


def check_cookies_and_origins() -> list[Check]:
    """The project's security system checks (accounts.checks, corsheaders, Django's
    CSRF), each Error a FAIL and each Warning a warn, on the line they concern, next to
    the effective cookie policy, the frontend origins and the kind of deployment."""
    summaries = {
        "cookies": _cookie_policy(),
        "cors/csrf": _origins(),
        "deployment": _deployment(),
    }
    messages = {name: [] for name in summaries}
    for message in run_checks(tags=[Tags.security]):
        if message.level >= WARNING and not message.is_silenced():
            messages[_MESSAGE_LINES.get(message.id, "cors/csrf")].append(message)
    lines = []
    for name, text in summaries.items():
        if not messages[name]:
            lines.append(Check(OK, name, text))
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
    """Same-site or cross-site, by the same site approximation as accounts.checks, with
    what it means for the session cookie."""
    if not settings.FRONTEND_ORIGINS:
        return "no separate web app: only pages of this server's own origin use its cookies"
    api_hosts = _api_hosts()
    api_sites = {_site(host) for host in api_hosts}
    cross = [
        origin
        for origin in settings.FRONTEND_ORIGINS
        if _site(urlsplit(origin).hostname or "") not in api_sites
    ]
    where = f"web app {', '.join(settings.FRONTEND_ORIGINS)}, API {', '.join(api_hosts)}"
    if not cross:
        return (
            f"same-site ({where}): the session cookie is first-party, so cookie sessions work "
            "in every browser"
        )
    if settings.COOKIE_SAMESITE == "None":
        return f"cross-site ({where})"
    return (
        f"cross-site ({where}): with SameSite={settings.COOKIE_SAMESITE} the session cookie is "
        "never sent from the web app, which must log in with the token handoff (mode=token)"
    )


# --- 9. signing key ---------------------------------------------------------------------


def check_signing_key() -> Check:
    """A current app-token signing key exists and decrypts with the configured secret,
    and SIGNING_KEY_ALGORITHM is supported. Reads only: a missing key is reported, not made."""
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
            FAIL,
            name,
            "no current signing key: app tokens cannot be issued",
            "run `manage.py rotate_signing_key`",
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
        f"current key {_short(current.kid)} ({current.algorithm}, made "
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


# --- 10. audience -----------------------------------------------------------------------


def check_audience() -> Check:
    """AUTH0_AUDIENCE is printed when set; a value that looks like a host without a
    scheme, or has stray whitespace, is a warning (Auth0 compares identifiers exactly)."""
    audience = app_settings.audience()
    if not audience:
        return Check(
            OK,
            "audience",
            "AUTH0_AUDIENCE not set: no audience is asked for, Auth0 "
            "access tokens are not accepted as Bearer tokens",
        )
    if audience != audience.strip():
        return Check(
            WARN,
            "audience",
            f"{audience!r} has leading or trailing whitespace",
            "remove it: the API identifier is compared exactly",
        )
    if "://" not in audience and _AUDIENCE_WITHOUT_SCHEME.match(audience):
        return Check(
            WARN,
            "audience",
            f"{audience!r} looks like a URL without its scheme",
            "copy the API's Identifier exactly as Auth0 shows it (APIs → your API), "
            "usually https://…",
        )
    return Check(OK, "audience", f"{audience!r} (sent as audience; Bearer tokens must carry it)")


# --- the whole report -------------------------------------------------------------------


def diagnose() -> list[Check]:
    """Every check, in the report's order. The provider is probed in one event loop
    (closed before the signing key is read from the database)."""
    configuration = check_configuration()
    issuer = usable_issuer()
    if issuer:
        provider = asyncio.run(probe_provider(issuer, callback_url()))
    else:
        provider = ProviderReport(
            *(
                skipped(name, "no usable issuer (see configuration)")
                for name in ("discovery", "issuer", "jwks", "client credentials", "clock")
            )
        )
    return [
        configuration,
        provider.discovery,
        provider.issuer,
        provider.jwks,
        provider.credentials,
        check_callback_url(),
        provider.clock,
        *check_cookies_and_origins(),
        check_signing_key(),
        check_audience(),
    ]
