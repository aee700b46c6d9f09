"""The lane's ASGI application: what it answers, and handing everything else to Django."""

import asyncio
import contextlib
import logging
import time

import psycopg
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.urls import resolve

from accounts import keys, logcontext, ratelimit
from accounts.api.base import SERVICE_ERRORS, ApiError, unavailable_dependency
from accounts.api.bearer import is_app_token_issuer
from accounts.api.dpop import LANE_PROOF, averify_request
from accounts.api.endpoint import read_json
from accounts.requestkit import base_url
from accounts.token_views import presented_refresh_token
from accounts.tokens.access import (
    averify_access_token,
    bound_key,
    pair,
    remembered_access_claims,
    unverified_claims,
)
from accounts.tokens.base import TokenError
from accounts.tokens.dpop import new_nonce
from accounts.views import me_body
from authsite import metrics

from .database import POOL_WAIT, lane_pool, on_postgresql, read_me, rotate
from .http import (
    NO_TOKEN,
    REQUEST_ID_HEADER,
    LaneRequest,
    django_request,
    json_answer,
    refresh_cookie_headers,
    request_id,
)

logger = logging.getLogger(__name__)


ME_PATH = "/api/v1/auth/me"

REFRESH_PATH = "/api/v1/auth/refresh"

# The routes of the lane's answers, as Django names them (the metrics' route label).
ROUTES = {ME_PATH: resolve(ME_PATH).route, REFRESH_PATH: resolve(REFRESH_PATH).route}

DPOP_HEADER = b"dpop"

# A refresh body is about 70 bytes; a longer one goes to Django, which reads any size.
REFRESH_BODY_LIMIT = 4096


class FastLane:
    """ASGI middleware: answers what it can (see the package), hands the rest to ``app``.
    Every request, whoever answers it, gets its id here (the log's context,
    accounts.logcontext, and X-Request-ID on the answer) and is timed in the metrics.
    Also speaks the lifespan protocol: it reads the pools' statistics while metrics are
    on, and closes its pool on shutdown."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        # The request's id, for the log, the identity provider and every answer: the
        # lane's, and Django's (whose RequestIdMiddleware then leaves it alone).
        identifier = request_id(scope)
        token = logcontext.begin(identifier)
        try:
            answer, receive = await _answer(scope, receive)
            if answer is None:
                answering = _Echo(identifier, send)
                await self.app(scope, receive, answering)
                route = logcontext.current().route
                metrics.observe_request(route, answering.status, "django", started)
                return
            headers, body = answer
            headers.append((REQUEST_ID_HEADER, identifier.encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            metrics.observe_request(ROUTES[scope["path"]], 200, "lane", started)
        finally:
            logcontext.end(token)

    async def _lifespan(self, receive, send):
        counting = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if metrics.counting():
                    counting = asyncio.create_task(
                        metrics.record_pool_stats_periodically(lane_pool)
                    )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if counting is not None:
                    counting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await counting
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        """Close the pool and the rate limits' Redis client of the running loop, if any
        (the next request opens new ones)."""
        await lane_pool.close()
        await ratelimit.aclose()


async def _answer(scope, receive):
    """Return the lane's answer, (headers, body), or None for Django to answer; and the
    ``receive`` that Django then reads the request's body from."""
    answer = None
    if settings.FAST_LANE and not scope.get("root_path") and on_postgresql():
        route = (scope["method"], scope["path"])
        if route == ("GET", ME_PATH) and not _has_dpop_proof(scope):
            answer = await _or_decline(_me(scope))
        elif route == ("POST", REFRESH_PATH):
            messages, body = await _read_body(receive)
            if body is not None:
                answer = await _or_decline(_refresh(scope, body))
            if answer is None:
                receive = _replaying(messages, receive)
    return answer, receive


def _has_dpop_proof(scope) -> bool:
    """Return whether the request sends a DPoP header, which the lane verifies only on a
    refresh."""
    return any(name == DPOP_HEADER for name, _ in scope["headers"])


class _Echo:
    """A ``send`` that adds X-Request-ID to the answer's headers and keeps its status."""

    def __init__(self, identifier: str, send):
        self.header = (REQUEST_ID_HEADER, identifier.encode())
        self.send = send
        # Until an answer starts: the client went away (nginx's "client closed request").
        self.status = 499

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), self.header]}
        await self.send(message)


async def _or_decline(answering):
    """Return the lane's answer, or None for Django to answer: when it needs signing keys
    from the database (Django's path loads them, in its own thread), or when anything
    fails inside the lane: a dependency that is down (one log line) or anything else
    (logged whole)."""
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
    """Return (headers, body) of the 200 answer, or None to let Django answer."""
    request = LaneRequest.read(scope)
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
    if bound_key(claims):
        return None  # bound to a DPoP key, presented as Bearer: Django refuses it
    database = await lane_pool.database()
    try:
        async with database.pool.connection(timeout=POOL_WAIT) as conn:
            user, applications, features = await read_me(conn, claims)
    except (ApiError, ValidationError):
        return None
    logcontext.note_user(user)
    return json_answer(
        me_body(user, applications, features), ME_PATH, request.secure, request.origin
    )


async def _refresh(scope, body: bytes):
    """Return (headers, body) of the 200 answer to a refresh that wins its rotation, the
    token in the body or the web app's cookie, or None to let Django answer."""
    request = django_request(scope, body)
    if request is None:
        return None
    try:
        # The view's own reading: the body's token, else the cookie's after the CSRF
        # check; its refusals (400, 401, 403, 413) are Django's to answer.
        presented, from_cookie = presented_refresh_token(request, read_json(request), NO_TOKEN)
    except (ApiError, RequestDataTooBig):
        return None
    try:
        # Django's own verification; a refused proof's jti is not remembered, so Django
        # refuses it again the same way.
        proof = await averify_request(request)
    except ApiError:
        return None
    if proof is not None:
        request.scope[LANE_PROOF] = proof
    try:
        signer = await keys.asigner()
    except keys.SigningKeyUnavailable:
        return None
    database = await lane_pool.database()
    async with database.pool.connection(timeout=POOL_WAIT) as conn:
        grant = await rotate(
            conn, database.connection, presented, request, proof.jkt if proof else ""
        )
    if grant is None:
        return None
    answer = pair(grant, issuer=base_url(request), signer=signer)
    headers, content = json_answer(
        answer, REFRESH_PATH, request.is_secure(), request.headers.get("Origin")
    )
    if from_cookie:
        headers.extend(refresh_cookie_headers(request, answer["refresh_token"]))
    if proof is not None and settings.DPOP_NONCE:
        headers.append((b"dpop-nonce", new_nonce().encode()))
    return headers, content


async def _read_body(receive) -> tuple[list, bytes | None]:
    """Read the request's body; return (the messages read, the body), the body None when
    it is longer than REFRESH_BODY_LIMIT or the client left."""
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
    """Return a ``receive`` that gives the messages already read, then the client's
    next."""
    pending = list(messages)

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay
