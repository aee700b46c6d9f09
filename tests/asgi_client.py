"""Django's async test client, through the real ASGI application.

Django's ``AsyncClient`` hands its request to Django's middleware directly; production
runs ``authsite.asgi.application``: the fast lane (accounts/fastlane.py) in front of
the static files handler in front of Django. ``ASGIClient`` sends the scope the client
builds, and its body, through that application with real ASGI ``receive`` and ``send``,
and turns the messages sent back into the ``HttpResponse`` the client expects: status,
every header, the Set-Cookie headers as ``response.cookies`` (so the client's cookie jar
keeps working), the body; a streamed body (static files) as a ``StreamingHttpResponse``.
A HEAD or 304 answer loses its body, as a server drops it. ``response.asgi_request``
is Django's request for the scope as sent, before any middleware; templates, contexts
and view exceptions reach the client through Django's signals, as with its handler.

CSRF: Django's handler can skip the CSRF checks of a client built without
``enforce_csrf_checks`` (``request._dont_enforce_csrf_checks``); nothing in a request
can ask the real application for that. Such a client's requests therefore go through
the application unless a CSRF check could refuse them: an unsafe request to a view
that is not CSRF-exempt (Django's middleware checks it), or to one of the API's views
(``accounts.api.endpoint``, which checks it itself) carrying a session or refresh
cookie (``accounts.api.has_cookie_credentials``). Those alone are answered by Django's
handler, as by ``AsyncClient``; other exempt views (the back-channel logout) never
check it. The other way, a CSRF token the test did not ask for, would change the
requests, and what the API decides on them, behind the tests' back. A client that
enforces CSRF (the ``browser`` fixture) sends every request through the application.

Unlike Django's handler, the client leaves ``close_old_connections`` on the request
signals, as production does: Django's ASGI handler runs a request's sync code in a
thread of its own, and only that receiver gives the thread's database connection back.
A test's own connection is never one of those (it would be if the client were driven
through ``async_to_sync`` from a sync test, whose transaction that would break).
"""

import asyncio
import io
from http.cookies import Morsel, SimpleCookie

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from django.test.client import AsyncClient, AsyncClientHandler, conditional_content_removal
from django.urls import Resolver404, resolve

from accounts.api import endpoint, has_cookie_credentials
from authsite.asgi import application

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_FLAGS = {"secure", "httponly"}


class ASGIClient(AsyncClient):
    """``AsyncClient`` whose requests go through ``authsite.asgi.application``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handler = ASGIClientHandler(self.handler.enforce_csrf_checks)


class ASGIClientHandler(AsyncClientHandler):
    """Answer the client's scope with the real ASGI application (or, for a request that
    needs the CSRF bypass, with Django's handler)."""

    async def __call__(self, scope):
        if not self.enforce_csrf_checks and _csrf_checked(scope):
            return await super().__call__(scope)
        body_file = scope.pop("_body_file", None)
        body = body_file.read() if body_file is not None else b""
        scope = _asgi_scope(scope)
        request = ASGIRequest(scope, io.BytesIO(body))
        response = _response(await _call_application(scope, body))
        response.asgi_request = request
        return conditional_content_removal(request, response)


def _csrf_checked(scope) -> bool:
    """True when a CSRF check could refuse the request (see the module)."""
    if scope["method"] in SAFE_METHODS:
        return False
    try:
        view = resolve(scope["path"]).func
    except Resolver404:
        return False
    if not getattr(view, "csrf_exempt", False):
        return True
    return _is_api_endpoint(view) and has_cookie_credentials(
        ASGIRequest(_asgi_scope(scope), io.BytesIO())
    )


# The code of every view that accounts.api.endpoint wraps.
_ENDPOINT_CODE = endpoint()(lambda request, principal: None).__code__


def _is_api_endpoint(view) -> bool:
    """True when ``view`` is, or wraps, a view of ``accounts.api.endpoint``."""
    while view is not None:
        if getattr(view, "__code__", None) is _ENDPOINT_CODE:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def _asgi_scope(scope) -> dict:
    """The client's scope as an ASGI server gives it: a bytes query string, (host, port)
    tuples, no empty Cookie header."""
    scope = dict(scope)
    if isinstance(scope.get("query_string"), str):
        scope["query_string"] = scope["query_string"].encode()
    host, port = scope["server"]
    scope["server"] = (host, int(port))
    scope["client"] = tuple(scope["client"])
    scope["headers"] = [
        (name, value) for name, value in scope["headers"] if (name, value) != (b"cookie", b"")
    ]
    return scope


async def _call_application(scope, body: bytes) -> list[dict]:
    """Run the application on the scope and body; return the messages it sent."""
    sent = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    finished = asyncio.Event()

    async def receive():
        if pending:
            return pending.pop()
        await finished.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    try:
        await application(scope, receive, send)
    finally:
        finished.set()
    return sent


def _response(sent: list[dict]) -> HttpResponse:
    """Build the response the ASGI messages describe: streaming when the body came the
    way Django streams one (parts, then an empty last message)."""
    starts = [message for message in sent if message["type"] == "http.response.start"]
    if len(starts) != 1:
        raise AssertionError(f"the application sent {len(starts)} response starts: {sent}")
    bodies = [message for message in sent if message["type"] == "http.response.body"]
    chunks = [message.get("body", b"") for message in bodies]
    if len(chunks) > 1 and not chunks[-1]:
        response = StreamingHttpResponse(chunks[:-1], status=starts[0]["status"])
    else:
        response = HttpResponse(b"".join(chunks), status=starts[0]["status"])
    del response["Content-Type"]
    for name, value in starts[0].get("headers", []):
        name, value = name.decode("latin-1"), value.decode("latin-1")
        if name.lower() == "set-cookie":
            morsel = _morsel(value)
            response.cookies[morsel.key] = morsel
        elif name in response:
            response[name] = f"{response[name]}, {value}"
        else:
            response[name] = value
    if "Location" in response:
        response.url = response["Location"]  # as HttpResponseRedirect has, for follow=True
    return response


class SentMorsel(Morsel):
    """A cookie as a Set-Cookie header gave it; the attributes Python's Morsel does not
    know (``Partitioned``) are written back after the others, as sent."""

    def __init__(self):
        super().__init__()
        self.unknown = []

    def OutputString(self, attrs=None):
        """Write the cookie as Morsel does, then the attributes it does not know."""
        return "; ".join([super().OutputString(attrs), *self.unknown])


def _morsel(header: str) -> SentMorsel:
    """Parse one Set-Cookie header value into a morsel."""
    pair, *attributes = header.split(";")
    name, _, coded = pair.partition("=")
    morsel = SentMorsel()
    morsel.set(name.strip(), *SimpleCookie().value_decode(coded.strip()))
    for attribute in filter(None, (part.strip() for part in attributes)):
        key, has_value, value = attribute.partition("=")
        key = key.strip()
        if key.lower() in _FLAGS:
            morsel[key] = True
        elif has_value and morsel.isReservedKey(key):
            value = value.strip()
            # Django writes Max-Age from an int, and tests compare it with one.
            morsel[key] = int(value) if key.lower() == "max-age" and value.isdigit() else value
        else:
            morsel.unknown.append(attribute)
    return morsel
