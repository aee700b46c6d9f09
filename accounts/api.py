"""The JSON API's plumbing: one error shape, method checks, authentication and CSRF.

Every `/api/` answer that is not a success is ``{"error": code, "detail": sentence}``
with the right status. Views are plain async Django views wrapped by ``endpoint``:
DRF's and adrf's dispatch hop to a thread on every request (docs/architecture.md).
"""

import functools
import json
import logging
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from authsite.db import in_thread

from .models import LoginSession

logger = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a dependency that is down or unreachable raises: the database (or its pool) and
# a Redis cache. The answer is 503, with one log line instead of a traceback.
SERVICE_ERRORS = (DatabaseError, redis.RedisError)


class ApiError(Exception):
    """Raised anywhere below a view to answer with the JSON error shape."""

    def __init__(self, status: int, error: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def error_response(status: int, error: str, detail: str, headers: dict | None = None):
    response = JsonResponse({"error": error, "detail": detail}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    add_never_cache_headers(response)
    return response


def service_unavailable():
    return error_response(
        503, "service_unavailable", "The service is temporarily unavailable; try again shortly."
    )


def unavailable_dependency(exc: Exception) -> str:
    """Name the dependency that raised one of SERVICE_ERRORS, for the log."""
    return "cache" if isinstance(exc, redis.RedisError) else "database"


def not_authenticated():
    return ApiError(
        401,
        "not_authenticated",
        "Authentication credentials were not provided or are no longer valid.",
    )


@dataclass
class Principal:
    """Who is calling and how they proved it."""

    user: object
    via: str  # "session" or "bearer"
    claims: dict = field(default_factory=dict)

    @property
    def family_id(self):
        return self.claims.get("fam")


def _reject_csrf(request, reason):
    raise ApiError(403, "csrf_failed", f"CSRF verification failed: {reason.rstrip('.')}.")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check (token and Origin), called only for requests that a
    cookie authenticates; Bearer and cookie-less requests cannot be forged by a browser."""

    def _reject(self, request, reason):
        return reason


_csrf_check = _CsrfCheck(lambda request: None)


def enforce_csrf(request):
    # Browsers send Origin on every cross-origin and fetch() POST; a cookie-bearing
    # unsafe request with neither Origin nor Referer is not from a page we trust.
    if "HTTP_ORIGIN" not in request.META and "HTTP_REFERER" not in request.META:
        _reject_csrf(request, "Origin header missing")
    request.csrf_processing_done = False
    reason = _csrf_check.process_view(request, None, (), {})
    if reason is not None:
        _reject_csrf(request, reason)


def has_cookie_credentials(request) -> bool:
    return (
        settings.SESSION_COOKIE_NAME in request.COOKIES
        or settings.REFRESH_COOKIE_NAME in request.COOKIES
    )


async def authenticate(request, load=None) -> tuple[Principal | None, object]:
    """Return the caller's principal (or None) and ``load(principal.user)`` (None
    without a principal or a ``load``). Bearer token first (app-issued, or an Auth0
    access token for AUTH0_AUDIENCE), else the session cookie. A Bearer token that does
    not verify is a 401, never a fallback to the cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "invalid_token", "The Authorization header must be 'Bearer <token>'."
            )
        # bearer builds on this module (ApiError, Principal): imported here, not above.
        from .bearer import authenticate_bearer

        return await authenticate_bearer(token.strip(), load)
    user = await request.auser()
    if not user.is_authenticated:
        return None, None
    await _keep_session_alive(request)
    return Principal(user=user, via="session"), await aload(load, user)


async def aload(load, user):
    """Return ``load(user)`` run in the project's database threads, or None without a
    ``load``."""
    return await in_thread(load)(user) if load is not None else None


SESSION_SEEN_KEY = "_seen"
SESSION_TOUCH_INTERVAL = 60


async def _keep_session_alive(request):
    """Idle timeout: a session expires SESSION_IDLE_TIMEOUT seconds after its last use.
    Saving a session pushes its expiry forward; it is saved at most once a minute so
    that busy clients do not write on every request, and its login's ``last_used_at``
    (the session list's) is moved with it."""
    now = int(time.time())
    seen = await request.session.aget(SESSION_SEEN_KEY, 0)
    if now - seen >= SESSION_TOUCH_INTERVAL:
        await request.session.aset(SESSION_SEEN_KEY, now)
        await LoginSession.objects.filter(session_key=request.session.session_key).aupdate(
            last_used_at=timezone.now()
        )


def read_json(request) -> dict:
    """The request body as a JSON object (any other content type but a form is read as
    JSON), or a form's fields, or {} when empty. A body that cannot be read (bad JSON,
    a form in an unknown charset, too many fields, a multipart body without its
    boundary) is a 400; a body over Django's size limit raises RequestDataTooBig."""
    if not request.body:
        return {}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            return {key: request.POST.get(key) for key in request.POST}
        except RequestDataTooBig:
            raise
        except (SuspiciousOperation, MultiPartParserError, ValueError, LookupError):
            raise ApiError(400, "invalid_request", "The request body could not be read.") from None
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_request", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    return data


def endpoint(methods=("GET",), *, auth="required", csrf="cookie", load=None):
    """Wrap an async view ``view(request, principal)``.

    auth: "required" (401 without a principal), "optional" (principal may be None),
    "none" (no authentication at all: the body carries the credential, and a stale
    Authorization header must not get in the way).
    csrf: "cookie" — unsafe requests carrying a session or refresh cookie must pass
    Django's CSRF check (token and Origin), anonymous ones included; "never" for
    endpoints that take no cookie credentials at all.
    load: a plain function ``load(user)`` doing the database work the view needs for
    its principal, run in the same thread hop as the principal's own lookup when there
    is one; the view is then called as ``view(request, principal, loaded)``.
    """
    allowed = tuple(methods)

    def decorate(view):
        @functools.wraps(view)
        async def wrapper(request, *args, **kwargs):
            try:
                if request.method not in allowed:
                    return error_response(
                        405,
                        "method_not_allowed",
                        f"Method {request.method} is not allowed here.",
                        {"Allow": ", ".join(allowed)},
                    )
                if request.method in UNSAFE_METHODS:
                    # Read the body now: Django's CSRF check parses request.POST, which
                    # would consume the stream before the view reads the JSON body.
                    _ = request.body
                principal, loaded = (
                    await authenticate(request, load) if auth != "none" else (None, None)
                )
                if (
                    csrf == "cookie"
                    and request.method in UNSAFE_METHODS
                    and (principal is None or principal.via == "session")
                    and has_cookie_credentials(request)
                ):
                    enforce_csrf(request)
                if principal is None and auth == "required":
                    raise not_authenticated()
                if load is not None:
                    args = (loaded, *args)
                response = await view(request, principal, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.error, exc.detail, exc.headers)
            except RequestDataTooBig:
                return error_response(413, "request_too_large", "The request body is too large.")
            except SERVICE_ERRORS as exc:
                # One line: an outage would otherwise flood the log with a traceback
                # per request.
                logger.error(
                    "%s unavailable on %s: %s", unavailable_dependency(exc), request.path, exc
                )
                return service_unavailable()
            add_never_cache_headers(response)
            return response

        wrapper.csrf_exempt = True
        return wrapper

    return decorate
