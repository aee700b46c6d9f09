"""Django's test clients, through the real ASGI application.

Django's ``AsyncClient`` and ``Client`` hand their request to Django's middleware
directly; production runs ``authsite.asgi.application``: the fast lane
(authsite/fastlane/) in front of Django.
``ASGIClient`` sends the scope the client builds, and its body, through that application
with real ASGI ``receive`` and ``send``; ``SyncASGIClient`` does the same with the scope
a server would build for ``Client``'s WSGI environ (see its handler for the threads).
Both turn the messages sent back into the ``HttpResponse`` the client expects: status,
every header, the Set-Cookie headers as ``response.cookies`` (so the client's cookie jar
keeps working), the body; a streamed body (static files) as a ``StreamingHttpResponse``.
A HEAD or 304 answer loses its body, as a server drops it. ``response.asgi_request``
(and, for ``SyncASGIClient``, ``response.wsgi_request``) is Django's request for the
scope as sent, before any middleware; templates, contexts and view exceptions reach the
client through Django's signals, as with its handler. Django's middleware reads some
settings when it is built (SecurityMiddleware, the HSTS ones): after a setting changed,
the application's is built again before the next request, as each new client's handler
builds its own.

CSRF: Django's handler can skip the CSRF checks of a client built without
``enforce_csrf_checks`` (``request._dont_enforce_csrf_checks``); nothing in a request
can ask the real application for that. Such a client's requests therefore go through
the application unless a CSRF check could refuse them: an unsafe request to a view
that is not CSRF-exempt (Django's middleware checks it), or to one of the API's views
(``accounts.api.endpoint.endpoint``, which checks it itself) carrying a session or refresh
cookie (``accounts.api.endpoint.has_cookie_credentials``). Those alone are answered by Django's
handler, as by Django's clients; other exempt views (the back-channel logout) never
check it. The other way, a CSRF token the test did not ask for, would change the
requests, and what the API decides on them, behind the tests' back. A client that
enforces CSRF (the ``browser`` fixture) sends every request through the application.

Unlike Django's handler, ``ASGIClient`` leaves ``close_old_connections`` on the request
signals, as production does: Django's ASGI handler runs a request's sync code in a
thread of its own, and only that receiver gives the thread's database connection back.
A test's own connection is never one of those. It is for ``SyncASGIClient``, whose
handler keeps that receiver off as Django's ``ClientHandler`` does.
"""

import asyncio
import io
import threading
from http.cookies import Morsel, SimpleCookie

from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import request_finished, request_started, setting_changed
from django.db import close_old_connections
from django.http import HttpResponse, StreamingHttpResponse
from django.test.client import (
    AsyncClient,
    AsyncClientHandler,
    Client,
    ClientHandler,
    conditional_content_removal,
)
from django.urls import Resolver404, resolve

from accounts.api.endpoint import endpoint, has_cookie_credentials
from authsite.asgi import application, django_application

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_FLAGS = {"secure", "httponly"}
# Set when a setting changed since Django's middleware was last built (see the module).
_settings_changed = threading.Event()
setting_changed.connect(lambda **kwargs: _settings_changed.set(), weak=False)


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
        return await _answer(scope, body_file.read() if body_file is not None else b"")


class SyncASGIClient(Client):
    """``Client`` whose requests go through ``authsite.asgi.application``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handler = SyncASGIClientHandler(self.handler.enforce_csrf_checks)


class SyncASGIClientHandler(ClientHandler):
    """Answer the client's environ with the real ASGI application (or, for a request that
    needs the CSRF bypass, with Django's handler).

    ``async_to_sync`` runs the application on a new event loop in another thread, while
    the sync code it hands back (``sync_to_async``, thread-sensitive: Django's middleware
    and views, the ORM) runs in this one, the test's: on its connection, inside its
    transaction, as Django's WSGI handler runs an async view. The fast lane opens its
    pool and Redis client on that loop; they are closed before the loop ends."""

    def __call__(self, environ):
        scope = _environ_scope(environ)
        if not self.enforce_csrf_checks and _csrf_checked(scope):
            return super().__call__(environ)
        body = environ["wsgi.input"].read()
        for signal in (request_started, request_finished):
            signal.disconnect(close_old_connections)
        try:
            response = async_to_sync(_answer_and_close)(scope, body)
        finally:
            for signal in (request_started, request_finished):
                signal.connect(close_old_connections)
        response.wsgi_request = response.asgi_request
        return response


def _environ_scope(environ) -> dict:
    """Return the scope an ASGI server gives for the request of a WSGI environ: its
    headers (a Host header built as PEP 3333 does when there is none), its path decoded."""
    headers = [
        (key.removeprefix("HTTP_").replace("_", "-").lower().encode(), str(value).encode("latin-1"))
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    ]
    scheme, port = environ["wsgi.url_scheme"], environ["SERVER_PORT"]
    if "HTTP_HOST" not in environ:
        default = port == ("443" if scheme == "https" else "80")
        host = environ["SERVER_NAME"] if default else f"{environ['SERVER_NAME']}:{port}"
        headers.insert(0, (b"host", host.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": environ["SERVER_PROTOCOL"].removeprefix("HTTP/"),
        "method": environ["REQUEST_METHOD"],
        "scheme": scheme,
        "path": environ["PATH_INFO"].encode("latin-1").decode(errors="replace"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": environ.get("SCRIPT_NAME", ""),
        "headers": headers,
        "client": (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT", 0))),
        "server": (environ["SERVER_NAME"], int(port)),
    }


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


# The code of every view that accounts.api.endpoint.endpoint wraps.
_ENDPOINT_CODE = endpoint()(lambda request, principal: None).__code__


def _is_api_endpoint(view) -> bool:
    """True when ``view`` is, or wraps, a view of ``accounts.api.endpoint.endpoint``."""
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


async def _answer(scope, body: bytes) -> HttpResponse:
    """Return the application's answer to the scope and body, as the client expects it."""
    if _settings_changed.is_set():
        _settings_changed.clear()
        django_application.load_middleware(is_async=True)
    scope = _asgi_scope(scope)
    request = ASGIRequest(scope, io.BytesIO(body))
    response = _response(await _call_application(scope, body))
    response.asgi_request = request
    return conditional_content_removal(request, response)


async def _answer_and_close(scope, body: bytes) -> HttpResponse:
    """Run ``_answer``, then close the fast lane's pool and Redis client of this loop."""
    try:
        return await _answer(scope, body)
    finally:
        await application.close()


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


def sync_client_class():
    """The sync test client to use: Django's Client on SQLite; on PostgreSQL,
    SyncASGIClient, through authsite.asgi.application, fast lane included."""
    from django.db import connection

    return SyncASGIClient if connection.vendor == "postgresql" else Client
