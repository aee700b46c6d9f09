"""The lane's HTTP: Django's own request object to read a refresh, the request's id,
and the headers Django's middleware hooks write on these answers (CORS, security,
clickjacking, CSP, the cookie policy), computed once per kind of answer."""

import io
import json
import time
from functools import lru_cache

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.http import HttpResponse
from django.http.cookie import parse_cookie
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date

from accounts.api.base import ApiError
from accounts.middleware import CookiePolicyMiddleware, TrustedProxyMiddleware
from accounts.requestkit import is_allowed_host, is_trusted_proxy
from accounts.requestkit import request_id as request_id_for
from accounts.token_views import set_refresh_cookie
from authsite.middleware import (
    ContentSecurityPolicyMiddleware,
    CsrfViewMiddleware,
    SecurityMiddleware,
    XFrameOptionsMiddleware,
)


def _no_view(request):
    raise AssertionError("only the middleware's hooks are called")


# Django's middleware, for their hooks only.
_trusted_proxy = TrustedProxyMiddleware(_no_view)

_csrf = CsrfViewMiddleware(_no_view)

_cookie_policy = CookiePolicyMiddleware(_no_view)

# The view raises its own 401 for a request without a token; the lane only declines.
NO_TOKEN = ApiError(401, "invalid_token", "No refresh token was presented.")


REQUEST_ID_HEADER = b"x-request-id"


def request_id(scope) -> str:
    """Return the request's id as Django's path makes it (requestkit.request_id), from
    the peer and the X-Request-ID headers, repeated ones joined as Django joins them."""
    client = scope.get("client")
    offered = [value for name, value in scope["headers"] if name == REQUEST_ID_HEADER]
    return request_id_for(
        client[0] if client else None, b",".join(offered).decode("latin-1") if offered else None
    )


def django_request(scope, body: bytes):
    """Return Django's own request for the scope, as its middleware leaves it before the
    view (forwarded headers stripped unless from a trusted proxy), or None when Django
    would answer otherwise: a Host it refuses, a redirect to HTTPS, a new CSRF cookie for
    a malformed one."""
    request = ASGIRequest(scope, io.BytesIO(body))
    _trusted_proxy.before(request)
    try:
        request.get_host()
    except DisallowedHost:
        return None
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    cookies = request.META.get("HTTP_COOKIE")
    if cookies and _csrf_cookie_renewed(cookies):
        return None
    return request


def refresh_cookie_headers(request, refresh_token: str) -> list:
    """Return the Set-Cookie header of the view's refresh cookie, after the cookie
    policy, as Django's ASGI handler writes it."""
    response = HttpResponse()
    set_refresh_cookie(response, refresh_token)
    response = _cookie_policy.after(request, response)
    return [
        (b"set-cookie", morsel.OutputString().encode("ascii"))
        for morsel in response.cookies.values()
    ]


def json_answer(document: dict, path: str, secure: bool, origin) -> tuple[list, bytes]:
    """Return (headers, body) of a 200 JSON answer, as Django and its middleware give
    it."""
    body = json.dumps(document, cls=DjangoJSONEncoder).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"expires", _http_date(int(time.time()))),
        *_hook_headers(path, secure, origin),
    ]
    return headers, body


class LaneRequest:
    """What the lane reads of a request; ``read`` gives None when Django must answer."""

    __slots__ = ("origin", "secure", "token")

    @classmethod
    def read(cls, scope):
        headers = {}
        for name, value in scope["headers"]:
            if name in headers:  # Django would join repeated headers: let it
                return None
            headers[name] = value.decode("latin-1")
        scheme, _, token = headers.get(b"authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        client = scope.get("client")
        trusted_peer = is_trusted_proxy(client[0] if client else None)
        if not _allowed_host(headers, trusted_peer):
            return None
        request = cls()
        request.token = token
        request.origin = headers.get(b"origin")
        request.secure = _is_secure(scope, headers, trusted_peer)
        if settings.SECURE_SSL_REDIRECT and not request.secure:
            return None
        if b"cookie" in headers and _csrf_cookie_renewed(headers[b"cookie"]):
            return None
        return request


class _CookieFacts:
    """What Django's CSRF middleware reads of a request before the view."""

    def __init__(self, cookie_header: str):
        self.COOKIES = parse_cookie(cookie_header)
        self.META = {}


def _csrf_cookie_renewed(cookie_header: str) -> bool:
    """Return whether Django's answer would carry a new CSRF cookie (a malformed one was
    sent), which the lane does not write."""
    if settings.CSRF_USE_SESSIONS:
        return True  # the secret is in the session, which the lane does not read
    facts = _CookieFacts(cookie_header)
    _csrf.process_request(facts)
    return bool(facts.META.get("CSRF_COOKIE_NEEDS_UPDATE"))


def _allowed_host(headers, trusted_peer) -> bool:
    """Return whether Django's ``get_host`` would accept the request's Host, False for
    a request that uses a forwarded host."""
    if settings.USE_X_FORWARDED_HOST and trusted_peer and b"x-forwarded-host" in headers:
        return False
    return _host_allowed(headers.get(b"host", ""))


def _is_secure(scope, headers, trusted_peer) -> bool:
    """Return Django's ``is_secure`` after TrustedProxyMiddleware: the proxy's header
    counts only from a trusted peer."""
    if settings.SECURE_PROXY_SSL_HEADER and trusted_peer:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "https"


class _HookFacts:
    """What the response hooks below read of a request."""

    method = "GET"
    _csp_nonce = None

    def __init__(self, path, secure, origin):
        self.path = self.path_info = path
        self.headers = {"origin": origin} if origin else {}
        self._secure = secure

    def is_secure(self):
        return self._secure


@lru_cache(maxsize=256)
def _hook_headers(path, secure, origin) -> tuple:
    """Return the headers Django's response hooks give a 200 JSON answer of ``path``, but
    the per-answer ones (content type and length, Expires): the view's never-cache
    headers, then, from the innermost middleware out, CSP, X-Frame-Options, the security
    middleware's and CORS's. Cached per (path, secure, origin)."""
    response = HttpResponse(content_type="application/json")
    add_never_cache_headers(response)
    facts = _HookFacts(path, secure, origin)
    innermost_first = (
        ContentSecurityPolicyMiddleware,
        XFrameOptionsMiddleware,
        SecurityMiddleware,
    )
    for middleware in innermost_first:
        response = middleware(_no_view).process_response(facts, response)
    response = CorsMiddleware(_no_view).add_response_headers(facts, response)
    skip = {"content-type", "expires"}
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.items()
        if name.lower() not in skip
    )


@lru_cache(maxsize=1)
def _http_date(second: int) -> bytes:
    """Return the Expires value Django's never-cache headers give at ``second``."""
    return http_date(second).encode()


# The answer of Django's Host check for the Host values seen lately (settings decide it).
_host_allowed = lru_cache(maxsize=64)(is_allowed_host)


def _forget_headers(**kwargs):
    _hook_headers.cache_clear()
    _host_allowed.cache_clear()


setting_changed.connect(_forget_headers)
