"""Where a browser may be sent after login: a relative path, or a URL on one of
FRONTEND_ORIGINS. Anything else is ignored, so the login cannot be an open redirect."""

from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.urls import reverse


def _origin(scheme: str, host: str, port: int | None) -> str:
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def _allowed_origins() -> set[str]:
    origins = set()
    for origin in settings.FRONTEND_ORIGINS:
        parts = urlsplit(origin)
        if parts.scheme and parts.hostname:
            origins.add(_origin(parts.scheme.lower(), parts.hostname.lower(), parts.port))
    return origins


def safe_next(value: str | None) -> str | None:
    """Return the absolute URL to send the browser to, or None when ``value`` is not
    allowed.

    Relative paths resolve against LOGIN_REDIRECT_URL (the web app), but those into this
    server's admin, which stay relative (``is_admin_path``). Refused: anything
    with a backslash, control character or whitespace; scheme-relative `//host`; any
    scheme but http(s); an origin (compared case-insensitively, default ports folded)
    that is not exactly one of FRONTEND_ORIGINS; user info in the authority."""
    if not value or len(value) > 2048:
        return None
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return None
    if value.startswith("/"):
        if value.startswith("//"):
            return None
        if is_admin_path(value):
            return value
        return urljoin(settings.LOGIN_REDIRECT_URL, value)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if _origin(scheme, parts.hostname.lower(), port) not in _allowed_origins():
        return None
    return value


def is_admin_path(value: str) -> bool:
    """Return whether ``value`` is a path into this server's admin, without empty, ``.``
    or ``..`` segments (percent-encoded dots included) that a browser would resolve out
    of it."""
    path = urlsplit(value).path
    if not path.startswith(reverse("admin:index")):
        return False
    segments = [segment.lower().replace("%2e", ".") for segment in path.split("/")[1:]]
    if any(segment in (".", "..") for segment in segments):
        return False
    return all(segments[:-1])


def default_landing() -> str:
    return settings.LOGIN_REDIRECT_URL
