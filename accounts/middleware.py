"""Request and response policies applied to every request. Async-native: under ASGI
they add no thread hop.

- RequestIdMiddleware: each request's id, in the log and in X-Request-ID; its count in
  the metrics.
- TrustedProxyMiddleware: forwarded headers are believed only from TRUSTED_PROXIES.
- CookiePolicyMiddleware: the cross-site cookie policy (accounts/cookies.py)."""

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from authsite import metrics

from . import logcontext
from .cookies import apply_policy
from .requestkit import is_trusted_proxy, request_id

REQUEST_ID_HEADER = "X-Request-ID"

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
)


class _PolicyMiddleware:
    """Sync and async capable; runs ``before`` on the request and ``after`` on the
    response inline (pure computation, so no thread hop under ASGI)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def before(self, request):
        pass

    def after(self, request, response):
        return response

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        self.before(request)
        return self.after(request, self.get_response(request))

    async def __acall__(self, request):
        self.before(request)
        return self.after(request, await self.get_response(request))


class RequestIdMiddleware(_PolicyMiddleware):
    """Begin the request's log context with its id (``requestkit.request_id``), echo the
    id in X-Request-ID and count the request in the metrics. Under ASGI the front
    (authsite.fastlane) has begun the context, and echoes and counts every answer
    itself; this middleware then only notes the request's route for it."""

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        if logcontext.current() is not None:
            response = self.get_response(request)
            logcontext.note_route(request)
            return response
        started = time.perf_counter()
        token, identifier = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            logcontext.end(token)
        return self._finish(request, response, identifier, started)

    async def __acall__(self, request):
        if logcontext.current() is not None:
            response = await self.get_response(request)
            logcontext.note_route(request)
            return response
        started = time.perf_counter()
        token, identifier = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            logcontext.end(token)
        return self._finish(request, response, identifier, started)

    def _finish(self, request, response, identifier: str, started: float):
        response[REQUEST_ID_HEADER] = identifier
        match = request.resolver_match
        metrics.observe_request(match and match.route, response.status_code, "django", started)
        return response

    def _begin(self, request):
        meta = request.META
        identifier = request_id(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_REQUEST_ID"))
        return logcontext.begin(identifier), identifier


class TrustedProxyMiddleware(_PolicyMiddleware):
    """Removes X-Forwarded-*/Forwarded headers unless the direct peer is a trusted
    proxy, so nothing downstream (Django's SECURE_PROXY_SSL_HEADER included) can be
    fooled by a client that sends them itself."""

    def before(self, request):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)


class CookiePolicyMiddleware(_PolicyMiddleware):
    """Every cookie of every response gets the project's attributes."""

    def after(self, request, response):
        if response.cookies:
            apply_policy(
                response.cookies,
                samesite=settings.COOKIE_SAMESITE,
                secure=settings.COOKIE_SECURE,
                partitioned=settings.COOKIE_PARTITIONED,
                user_agent=request.headers.get("User-Agent", ""),
            )
        return response
