"""The checks made over HTTP against the provider: discovery, issuer, JWKS, client
credentials and clock."""

import time
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from django.conf import settings
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ... import app_settings
from ...login.oidc.errors import ProviderUnavailable
from ...login.oidc.http import get_json, oauth_client
from ...login.oidc.metadata import REQUIRED_METADATA
from ...login.oidc.tokens import LEEWAY
from .base import (
    CLOCK_OK_BELOW,
    CLOCK_WARN_BELOW,
    FAIL,
    OK,
    PROBE_CODE,
    WARN,
    Check,
    issuer_source,
    short,
    skipped,
)


@dataclass(frozen=True)
class ProviderReport:
    """The provider's lines, and the discovery document they were judged from (None when
    discovery failed)."""

    discovery: Check
    issuer: Check
    jwks: Check
    credentials: Check
    clock: Check
    document: dict | None = None


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
            f"check {issuer_source()} and that this server reaches the provider (DNS, "
            f"firewall, outbound proxy; AUTH0_HTTP_TIMEOUT is {app_settings.http_timeout():g} s)",
        )
    elapsed, received_at = _elapsed_ms(started), time.time()
    missing = [name for name in REQUIRED_METADATA if not isinstance(document.get(name), str)]
    if missing:
        return _provider_down(
            f"{url} lacks {', '.join(missing)}",
            f"{issuer_source()} must point at an OpenID Connect provider (the Auth0 tenant)",
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
        document=document,
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
    """Compare discovery's `issuer` with the configured one, which must be equal exactly
    (ID tokens carry the provider's spelling): a difference of one trailing slash is a
    warning (logins still work: tokens are checked against discovery's spelling), any
    other a FAIL saying precisely what differs."""
    if stated == configured:
        return Check(OK, "issuer", f"{stated!r} as configured")
    source = issuer_source()
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
    """Check that the key set parses with joserfc, every key has a kid and no kid
    repeats, and at least one key can verify an algorithm of the allow-list."""
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
    names = ", ".join(short(entry["kid"]) for entry in signing)
    return Check(
        OK,
        "jwks",
        f"{len(entries)} key(s) in {elapsed_ms} ms, signing key(s) for "
        f"{', '.join(algorithms)}: {names}",
    )


def _can_verify(entry: dict, algorithms: list[str]) -> bool:
    """Return whether ``entry`` is a signature key whose `alg` is allowed or, without
    `alg`, whose key type fits one."""
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
    """Return what the token endpoint's OAuth error says about the client credentials,
    given that the code presented was made up."""
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
    name = "client credentials"
    try:
        await oauth_client().fetch_token(
            token_endpoint,
            grant_type="authorization_code",
            code=PROBE_CODE,
            redirect_uri=redirect_uri,
        )
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
    """Compare this server's clock with the provider's `Date` header (one-second
    resolution): ok under CLOCK_OK_BELOW seconds apart, warn under CLOCK_WARN_BELOW,
    FAIL beyond."""
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
