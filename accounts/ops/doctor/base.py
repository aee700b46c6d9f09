"""A check's verdict, and the helpers the checks share."""

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from ... import app_settings

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
MESSAGE_LINES = {
    "accounts.E001": "cookies",
    "accounts.E002": "cookies",
    "accounts.W001": "deployment",
}

AUDIENCE_WITHOUT_SCHEME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?(/\S*)?$", re.IGNORECASE)


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
    """Return a check not run because one it depends on failed; ``reason`` names that
    one."""
    return Check(SKIP, name, reason)


def failed(checks: Iterable[Check]) -> bool:
    """Return whether any check failed (warnings and skips do not fail the run)."""
    return any(check.verdict == FAIL for check in checks)


def summary(checks: list[Check]) -> str:
    """Return the final line: failures and warnings counted, and skips when there were
    any."""
    counts = Counter(check.verdict for check in checks)
    parts = [_plural(counts[FAIL], "failure"), _plural(counts[WARN], "warning")]
    if counts[SKIP]:
        parts.append(f"{counts[SKIP]} skipped")
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def short(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def is_loopback(host: str | None) -> bool:
    """Return whether ``host`` is in 127.0.0.0/8, ::1 or `localhost`: the only hosts
    allowed to speak plain http."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, setting: str) -> tuple[str, str] | None:
    """Return (problem, hint) unless ``url`` is an absolute https URL, or an http URL on
    a loopback host; None when it is acceptable."""
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


def issuer_source() -> str:
    """Return which setting the issuer comes from, so that hints name the one to
    change."""
    domain, issuer = settings.AUTH0_DOMAIN, app_settings.issuer()
    if domain and issuer == f"https://{domain}/":
        return "AUTH0_DOMAIN"
    return "AUTH0_ISSUER"


def issuer_problem(issuer: str) -> tuple[str, str] | None:
    """Return (problem, hint) when the configured issuer cannot be used, naming the
    setting it came from; None when discovery may be fetched from it."""
    source = issuer_source()
    if source == "AUTH0_DOMAIN" and "/" in settings.AUTH0_DOMAIN:
        return (
            f"AUTH0_DOMAIN {settings.AUTH0_DOMAIN!r} is not a bare host name",
            "write the domain alone (acme.eu.auth0.com), or set AUTH0_ISSUER to the full URL",
        )
    return url_problem(issuer, source)


def usable_issuer() -> str | None:
    """Return the configured issuer when discovery may be fetched from it, else None."""
    issuer = app_settings.issuer()
    if not issuer or issuer_problem(issuer):
        return None
    return issuer


def audience_problem(audience: str) -> tuple[str, str] | None:
    """Return (problem, hint) when AUTH0_AUDIENCE does not look like an API identifier
    as Auth0 shows it: stray whitespace, or a URL without its scheme."""
    if audience != audience.strip():
        return (
            f"{audience!r} has leading or trailing whitespace",
            "remove it: the API identifier is compared exactly",
        )
    if "://" not in audience and AUDIENCE_WITHOUT_SCHEME.match(audience):
        return (
            f"{audience!r} looks like a URL without its scheme",
            "copy the API's Identifier exactly as Auth0 shows it (APIs → your API), "
            "usually https://…",
        )
    return None
