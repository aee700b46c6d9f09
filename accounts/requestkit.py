"""What the server believes about a request: the client's address, its own external
base URL, its id. Forwarded headers (and a request id) are believed only from a
configured trusted proxy."""

import ipaddress
import random
import re
from functools import lru_cache

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from .models import USER_AGENT_LENGTH
from .upsert import RequestMeta


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(
        ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()
    )


def is_allowed_host(host: str) -> bool:
    """Return whether Django accepts a Host value (``request.get_host``): its domain is
    in ALLOWED_HOSTS, which under DEBUG defaults to the local names when empty."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def is_trusted_proxy(address: str | None) -> bool:
    if not address or not settings.TRUSTED_PROXIES:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


# What a request id offered by a trusted proxy may look like: room for a UUID, a trace
# id or nginx's $request_id, and nothing that could forge a log line or a header.
_OFFERED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id(peer: str | None, offered: str | None) -> str:
    """Return the id of a request from ``peer`` whose X-Request-ID is ``offered`` (None
    without one; repeated headers joined by commas): the offered id when the peer is a
    trusted proxy and it is 1 to 128 of ``A-Z a-z 0-9 . _ -``, else a new one (32 hex
    digits, 128 random bits). Django's path and the fast lane both call this."""
    if offered and is_trusted_proxy(peer) and _OFFERED_REQUEST_ID.fullmatch(offered):
        return offered
    # Not os.urandom: see docs/architecture.md, "Performance".
    return f"{random.getrandbits(128):032x}"


def client_ip(request) -> str | None:
    """Return the peer's address; behind trusted proxies, the right-most X-Forwarded-For
    entry that is not itself a trusted proxy (entries to its left are client-controlled)."""
    peer = request.META.get("REMOTE_ADDR") or None
    if not is_trusted_proxy(peer):
        return _valid_ip(peer)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not is_trusted_proxy(entry):
            return _valid_ip(entry)
    return _valid_ip(peer)


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def base_url(request) -> str:
    """Return this server's external URL without a trailing slash: PUBLIC_BASE_URL when set;
    else the request's scheme and host, from X-Forwarded-Proto/-Host only when the
    peer is a trusted proxy. The host is always checked against ALLOWED_HOSTS."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL
    scheme = request.scheme
    host = request.get_host()
    if is_trusted_proxy(request.META.get("REMOTE_ADDR")):
        proto = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scheme = proto
        forwarded_host = request.META.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
        if forwarded_host:
            domain, _ = split_domain_port(forwarded_host)
            if domain and validate_host(domain, settings.ALLOWED_HOSTS):
                host = forwarded_host
    return f"{scheme}://{host}"


def request_meta(request) -> RequestMeta:
    return RequestMeta(
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
    )
