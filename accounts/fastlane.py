"""The fast lane: ``GET /api/v1/auth/me`` with an app access token and ``POST
/api/v1/auth/refresh`` that wins its rotation, answered on the event loop.

Under ASGI, Django's request machinery and the ORM cost several times what these
requests themselves do (docs/benchmarks.md has the profiles and the numbers). The lane
sits in front of Django (authsite/asgi.py) and answers them without a thread hop.

For ``/me``:

- the token is verified by ``tokens.averify_access_token``, as accounts.api.bearer does;
- the family, the user and the organisation are read with the query accounts.api.bearer
  defines (``app_token_family_query``) and judged by the same ``app_token_user``;
- the applications and features are read with the queries organisations.access
  defines and shaped by its functions; the body is the view's own ``me_body``.

For a refresh (``_rotate``), the body is read whole (up to REFRESH_BODY_LIMIT) and
handed to Django's own request object, so the view's ``presented_refresh_token`` reads
the token (the body's, else the cookie's after the CSRF check); then the rotation's read
(with the user's applications, in one statement) and rules of accounts.tokens, the token
endpoints' rate limits (``acount_token_request``, counted once: see ``_rotate``), and its
conditional update, successor and audit event in one transaction.

For both, the queries are the SQL Django compiles from those querysets and models
(accounts.compiled), run through an async psycopg pool on Django's connection settings,
and the response headers are written by the same middleware hooks Django runs on these
answers (CORS, security, clickjacking, CSP, the cookie policy) and
``add_never_cache_headers``.

The lane only ever answers 200. Every other request goes to Django unchanged (a refresh
with the body already read, replayed) and is answered the ordinary way: another method
or path, no Bearer token or an identity provider's, a Host Django would refuse or a
forwarded one, a CSRF cookie Django would renew, a token that does not verify, a revoked
family, a deactivated account, a refresh token that is refused or already spent, a rate
limit, a failed CSRF check, a database or cache that fails or has no connection free
within POOL_WAIT, and any other exception raised inside the lane. A refresh the lane
declines has written nothing: its transaction is rolled back. Refusals, their bodies and
their logs are therefore Django's, and a revocation takes effect at the next request, as
there. On SQLite, or with FAST_LANE off, the lane is off.
"""

import asyncio
import io
import json
import logging
import time
from functools import lru_cache
from typing import NamedTuple

import psycopg
from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import setting_changed
from django.db import connections
from django.http import HttpResponse
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date
from psycopg_pool import AsyncConnectionPool

from authsite.db import in_thread
from authsite.middleware import (
    ContentSecurityPolicyMiddleware,
    CsrfViewMiddleware,
    SecurityMiddleware,
    XFrameOptionsMiddleware,
)
from organisations.access import (
    applications_from_rows,
    applications_query,
    features_from_rows,
    features_query,
)
from organisations.models import Organisation

from . import keys, ratelimit
from .api.base import SERVICE_ERRORS, ApiError, unavailable_dependency
from .api.bearer import PRINCIPAL, app_token_user, is_app_token_issuer
from .api.endpoint import read_json
from .compiled import (
    CompiledBatch,
    CompiledQuery,
    CompiledUpdate,
    insert_statement,
    numbered_placeholders,
)
from .flows.refresh import LANE_COUNT, acount_token_request
from .middleware import CookiePolicyMiddleware, TrustedProxyMiddleware
from .models import RefreshToken, User
from .requestkit import base_url, is_allowed_host, is_trusted_proxy, request_meta
from .token_views import presented_refresh_token, set_refresh_cookie
from .tokens.access import averify_access_token, pair, remembered_access_claims, unverified_claims
from .tokens.base import TokenError, grant_for, hash_token
from .tokens.refresh import (
    judge_presented,
    new_refresh_token,
    presented_token_applications_query,
    presented_token_query,
    refreshed_event,
    unspent_query,
)
from .views import me_body

logger = logging.getLogger(__name__)

ME_PATH = "/api/v1/auth/me"
# Longest wait for a pooled connection before the request goes to Django instead.
POOL_WAIT = 2.0

APPLICATIONS = CompiledQuery(
    applications_query, user_id=User._meta.pk, organisation_id=Organisation._meta.pk
)
FEATURES = CompiledQuery(
    features_query, user_id=User._meta.pk, organisation_id=Organisation._meta.pk
)
ME = CompiledBatch(PRINCIPAL, APPLICATIONS, FEATURES)

REFRESH_PATH = "/api/v1/auth/refresh"
# A refresh body is about 70 bytes; a longer one goes to Django, which reads any size.
REFRESH_BODY_LIMIT = 4096
_TOKEN_HASH = RefreshToken._meta.get_field("token_hash")
PRESENTED = CompiledBatch(
    CompiledQuery(presented_token_query, token_hash=_TOKEN_HASH),
    CompiledQuery(presented_token_applications_query, token_hash=_TOKEN_HASH),
)
SPEND = CompiledUpdate(
    unspent_query,
    ("used_at",),
    token_id=RefreshToken._meta.pk,
    used_at=RefreshToken._meta.get_field("used_at"),
)


class _Database(NamedTuple):
    pool: AsyncConnectionPool
    # Django's connection for the default database, only to compile SQL with.
    connection: object


class FastLane:
    """ASGI middleware: answers what it can (see the module), hands the rest to ``app``.
    Also speaks the lifespan protocol, to close its pool on shutdown."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        answer = None
        if (
            scope["type"] == "http"
            and settings.FAST_LANE
            and not scope.get("root_path")
            and _on_postgresql()
        ):
            route = (scope["method"], scope["path"])
            if route == ("GET", ME_PATH):
                answer = await _or_decline(_me(scope))
            elif route == ("POST", REFRESH_PATH):
                messages, body = await _read_body(receive)
                if body is not None:
                    answer = await _or_decline(_refresh(scope, body))
                if answer is None:
                    receive = _replaying(messages, receive)
        if answer is None:
            return await self.app(scope, receive, send)
        headers, body = answer
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        """Close the pool and the rate limits' Redis client of the running loop, if any
        (the next request opens new ones)."""
        await _pool.close()
        await ratelimit.aclose()


async def _or_decline(answering):
    """The lane's answer, or None, for Django to answer: when it needs signing keys from
    the database (Django's path loads them, in its own thread), or when anything fails
    inside the lane: a dependency that is down (one log line) or anything else (logged
    whole)."""
    try:
        with keys.without_loading():
            return await answering
    except keys.KeysNotLoaded:
        pass
    except (psycopg.Error, *SERVICE_ERRORS) as exc:
        logger.warning(
            "fast lane: %s unavailable, answering through Django: %s",
            unavailable_dependency(exc),
            exc,
        )
    except Exception:
        logger.exception("fast lane: unexpected failure, answering through Django")
    return None


async def _me(scope):
    """(headers, body) of the 200 answer, or None to let Django answer."""
    request = _Request.read(scope)
    if request is None:
        return None
    try:
        # The issuer decides whose token it is; a token this process verified
        # before is not parsed again for it.
        seen = remembered_access_claims(request.token) or unverified_claims(request.token)
        if not is_app_token_issuer(seen.get("iss")):
            return None
        claims = await averify_access_token(request.token)
    except TokenError:
        return None
    database = await _pool.database()
    try:
        async with database.pool.connection(timeout=POOL_WAIT) as conn:
            user, applications, features = await _read_me(conn, claims)
    except (ApiError, ValidationError):
        return None
    return _json_answer(
        me_body(user, applications, features), ME_PATH, request.secure, request.origin
    )


async def _refresh(scope, body: bytes):
    """(headers, body) of the 200 answer to a refresh that wins its rotation, the token
    in the body or the web app's cookie, or None to let Django answer."""
    request = _django_request(scope, body)
    if request is None:
        return None
    try:
        # The view's own reading: the body's token, else the cookie's after the CSRF
        # check; its refusals (400, 401, 403, 413) are Django's to answer.
        presented, from_cookie = presented_refresh_token(request, read_json(request), _NO_TOKEN)
    except (ApiError, RequestDataTooBig):
        return None
    try:
        signer = await keys.asigner()
    except keys.SigningKeyUnavailable:
        return None
    database = await _pool.database()
    async with database.pool.connection(timeout=POOL_WAIT) as conn:
        grant = await _rotate(conn, database.connection, presented, request)
    if grant is None:
        return None
    answer = pair(grant, issuer=base_url(request), signer=signer)
    headers, content = _json_answer(
        answer, REFRESH_PATH, request.is_secure(), request.headers.get("Origin")
    )
    if from_cookie:
        headers.extend(_refresh_cookie_headers(request, answer["refresh_token"]))
    return headers, content


class _Pool:
    """The lane's connection pool, opened once per event loop (a server has one; tests
    have several) by one task that every concurrent first request awaits."""

    def __init__(self):
        self._loop = None
        self._opening = None

    async def database(self) -> _Database:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._opening = loop, loop.create_task(_open_pool())
        try:
            return await self._opening
        except Exception:
            self._loop = None  # the next request tries again
            raise

    def _opened(self) -> _Database | None:
        """The running loop's pool, if it was opened."""
        opening = self._opening
        if opening is None or self._loop is not asyncio.get_running_loop():
            return None
        if not opening.done() or opening.cancelled() or opening.exception() is not None:
            return None
        return opening.result()

    async def close(self) -> None:
        database = self._opened()
        self._loop = self._opening = None
        if database is not None:
            await database.pool.close()

    async def ping(self) -> None:
        """Run ``SELECT 1`` on a connection of the running loop's pool, if it was opened;
        raise psycopg.Error (PoolTimeout past POOL_WAIT) when it cannot."""
        database = self._opened()
        if database is not None:
            async with database.pool.connection(timeout=POOL_WAIT) as conn:
                await conn.execute(b"SELECT 1")


_pool = _Pool()


async def aping() -> None:
    """``_Pool.ping`` of the lane's pool: for /readyz."""
    await _pool.ping()


@lru_cache(maxsize=1)
def _on_postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


async def _open_pool() -> _Database:
    kwargs, sizes, connection = await in_thread(_prepare)()
    pool = AsyncConnectionPool(kwargs=kwargs, open=False, **sizes)
    await pool.open()
    return _Database(pool=pool, connection=connection)


def _prepare() -> tuple[dict, dict, object]:
    """Compile the queries and derive the pool's connection settings from Django's:
    once per process (a thread hop: compiling may read the server's version)."""
    connection = connections["default"]
    if ME.sql is None:
        ME.compile(connection)
    for query in (PRESENTED, SPEND):
        if query.sql is None:
            query.compile(connection)
    kwargs = connection.get_connection_params()
    # The statement is prepared once per connection and bound on the server: parsing
    # and planning it on every request costs PostgreSQL more CPU than running it.
    # Django's SQL is valid for server-side binding (its server_side_binding option).
    # Raw cursors send it as given, with numbered placeholders (_statement).
    kwargs["cursor_factory"] = psycopg.AsyncRawCursor
    kwargs["prepare_threshold"] = 0
    kwargs["autocommit"] = True
    # Named, so that operators can tell its connections apart in pg_stat_activity.
    kwargs["application_name"] = f"{kwargs.get('application_name') or 'authsite'} fast lane"
    sizes = {"min_size": 1, "max_size": settings.FAST_LANE_POOL_SIZE}
    return kwargs, sizes, connection


# The SQL the pool's raw cursors run: each statement converted once per process.
_statement = lru_cache(maxsize=16)(numbered_placeholders)


async def _read_me(conn, claims):
    """(user, applications, features) for verified claims, or ApiError as bearer gives.

    One statement: the access reads are batched with the family's, for the user and the
    organisation the token names; only when the user has since moved organisation is
    the batch run again for the organisation they are in now."""
    family = {"family_id": claims["fam"]}
    values = {"user_id": claims["sub"], "organisation_id": claims.get("org")}
    rows, applications, features = await _run(conn, ME, family, values, values)
    user = app_token_user(claims, rows[0] if rows else None)
    if user.organisation_id != values["organisation_id"]:
        values = {"user_id": user.pk, "organisation_id": user.organisation_id}
        rows, applications, features = await _run(conn, ME, family, values, values)
        user = app_token_user(claims, rows[0] if rows else None)
    return (
        user,
        applications_from_rows(applications),
        features_from_rows(features, user.pk, timezone.now()),
    )


async def _run(conn, batch: CompiledBatch, *values):
    cursor = await conn.execute(_statement(batch.sql), batch.params(*values))
    return batch.rows(await cursor.fetchall())


class _Declined(Exception):
    """Rolls the lane's rotation back: Django answers instead."""


async def _rotate(conn, connection, presented: str, request):
    """``tokens.rotate_refresh_token`` for a token that wins its rotation, on the event
    loop: the same read (``presented_token_query``) and rules (``judge_presented``), the
    token endpoints' rate limits (``acount_token_request``), then the same conditional
    update (``unspent_query``), successor and audit event in one transaction.

    The limits are counted once the token passes its rules, before it is spent and
    outside the transaction; the outcome goes with the request (``refresh.LANE_COUNT``)
    so that Django, answering whatever the lane passes on from there (the limit, a
    token already spent, which may earn a sibling or revoke the family), does not count
    it again. Anything the lane passes on is rolled back and gives None."""
    now = timezone.now()
    presented_hash = {"token_hash": hash_token(presented)}
    rows, applications = await _run(conn, PRESENTED, presented_hash, presented_hash)
    token = judge_presented(rows[0] if rows else None, now)
    if isinstance(token, TokenError):
        return None
    meta = request_meta(request)
    try:
        await acount_token_request(meta.ip, token.user.pk)
    except ratelimit.RateLimited as exc:
        request.scope[LANE_COUNT] = exc
        return None
    request.scope[LANE_COUNT] = True
    try:
        async with conn.transaction():
            spend = SPEND.params(token_id=token.token_id, used_at=now)
            if (await conn.execute(_statement(SPEND.sql), spend)).rowcount != 1:
                raise _Declined
            successor, plaintext = new_refresh_token(token.family_id, now, token.token_id)
            successor.pk = await _insert(conn, connection, successor)
            await _insert(conn, connection, refreshed_event(token, successor.pk, meta, grace=False))
    except _Declined:
        return None
    applications = applications_from_rows(applications)
    return grant_for(token.user, token.family_id, plaintext, applications)


async def _insert(conn, connection, obj) -> int:
    sql, params = insert_statement(obj, connection)
    cursor = await conn.execute(_statement(sql), params)
    (pk,) = await cursor.fetchone()
    return pk


async def _read_body(receive) -> tuple[list, bytes | None]:
    """(the messages read, the body), the body None when it is longer than
    REFRESH_BODY_LIMIT or the client left."""
    messages, body = [], b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        body += message.get("body", b"")
        if len(body) > REFRESH_BODY_LIMIT:
            return messages, None
        if not message.get("more_body"):
            return messages, body


def _replaying(messages: list, receive):
    """A ``receive`` that gives the messages already read, then the client's next."""
    pending = list(messages)

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay


def _no_view(request):
    raise AssertionError("only the middleware's hooks are called")


# Django's middleware, for their hooks only.
_trusted_proxy = TrustedProxyMiddleware(_no_view)
_csrf = CsrfViewMiddleware(_no_view)
_cookie_policy = CookiePolicyMiddleware(_no_view)
# The view raises its own 401 for a request without a token; the lane only declines.
_NO_TOKEN = ApiError(401, "invalid_token", "No refresh token was presented.")


def _django_request(scope, body: bytes):
    """Django's own request for the scope, as its middleware leaves it before the view
    (forwarded headers stripped unless from a trusted proxy), or None when Django would
    answer otherwise: a Host it refuses, a redirect to HTTPS, a new CSRF cookie for a
    malformed one."""
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


def _refresh_cookie_headers(request, refresh_token: str) -> list:
    """The Set-Cookie header of the view's refresh cookie, after the cookie policy, as
    Django's ASGI handler writes it."""
    response = HttpResponse()
    set_refresh_cookie(response, refresh_token)
    response = _cookie_policy.after(request, response)
    return [
        (b"set-cookie", morsel.OutputString().encode("ascii"))
        for morsel in response.cookies.values()
    ]


def _json_answer(document: dict, path: str, secure: bool, origin) -> tuple[list, bytes]:
    """(headers, body) of a 200 JSON answer, as Django and its middleware give it."""
    body = json.dumps(document, cls=DjangoJSONEncoder).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"expires", _http_date(int(time.time()))),
        *_hook_headers(path, secure, origin),
    ]
    return headers, body


class _Request:
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
    """True when Django's answer would carry a new CSRF cookie (a malformed one was
    sent), which the lane does not write."""
    if settings.CSRF_USE_SESSIONS:
        return True  # the secret is in the session, which the lane does not read
    facts = _CookieFacts(cookie_header)
    _csrf.process_request(facts)
    return bool(facts.META.get("CSRF_COOKIE_NEEDS_UPDATE"))


def _allowed_host(headers, trusted_peer) -> bool:
    """Django's ``get_host`` check, for a request that does not use a forwarded host."""
    if settings.USE_X_FORWARDED_HOST and trusted_peer and b"x-forwarded-host" in headers:
        return False
    return _host_allowed(headers.get(b"host", ""))


def _is_secure(scope, headers, trusted_peer) -> bool:
    """Django's ``is_secure`` after TrustedProxyMiddleware: the proxy's header counts only
    from a trusted peer."""
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
    """The headers Django's response hooks give a 200 JSON answer of ``path``, but the
    per-answer ones (content type and length, Expires): the view's never-cache headers,
    then, from the innermost middleware out, CSP, X-Frame-Options, the security
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
    """The Expires value Django's never-cache headers give, for the current second."""
    return http_date(second).encode()


# The answer of Django's Host check for the Host values seen lately (settings decide it).
_host_allowed = lru_cache(maxsize=64)(is_allowed_host)


def _forget_headers(**kwargs):
    _hook_headers.cache_clear()
    _host_allowed.cache_clear()


setting_changed.connect(_forget_headers)
