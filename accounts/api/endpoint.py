"""The wrapper of every JSON view: method checks, authentication, CSRF and the error
shape. Views are plain async Django views wrapped by ``endpoint``: DRF's and adrf's
dispatch hop to a thread on every request (docs/architecture.md)."""

import functools
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import add_never_cache_headers

from .. import logcontext
from ..tokens import dpop
from .authentication import access_token, authenticate
from .base import (
    SERVICE_ERRORS,
    ApiError,
    error_response,
    not_authenticated,
    service_unavailable,
    unavailable_dependency,
)
from .dpop import HEADER, averify_request

logger = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _reject_csrf(request, reason):
    raise ApiError(403, "csrf_failed", f"CSRF verification failed: {reason.rstrip('.')}.")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check (token and Origin), called only for requests that a
    cookie authenticates; Bearer and cookie-less requests cannot be forged by a browser."""

    def _reject(self, request, reason):
        return reason


_csrf_check = _CsrfCheck(lambda request: None)


def enforce_csrf(request):
    """Raise ApiError 403 unless the request carries an Origin or Referer and passes
    Django's CSRF check (token and Origin)."""
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


def read_json(request) -> dict:
    """Return the request body as a JSON object (any other content type but a form is
    read as JSON), or a form's fields, or {} when empty. Raise ApiError 400 for a body
    that cannot be read (bad JSON, a form in an unknown charset, too many fields, a
    multipart body without its boundary) and RequestDataTooBig for one over Django's
    size limit."""
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


def endpoint(methods=("GET",), *, auth="required", csrf="cookie", load=None, load_for=None):
    """Wrap an async view ``view(request, principal)``.

    auth: "required" (401 without a principal), "optional" (principal may be None),
    "none" (no authentication at all: the body carries the credential, and a stale
    Authorization header must not get in the way).
    csrf: "cookie" — unsafe requests carrying a session or refresh cookie must pass
    Django's CSRF check (token and Origin), anonymous ones included; "never" for
    endpoints that take no cookie credentials at all.
    load: a plain function ``load(user)`` doing the database work the view needs for
    its principal, run in the same thread hop as the principal's own lookup when there
    is one (an ``organisations.access.AccessRead``, on PostgreSQL, in the same statement
    as an app token's); the view is then called as ``view(request, principal, loaded)``.
    load_for: an async function ``load_for(request, claims)`` called once a Bearer app
    token's ``claims`` have verified, before its principal's lookup, returning that
    request's ``load`` (or None for none); the view is called as with ``load``, with
    ``loaded`` None for every other caller.

    A DPoP header is verified before anything else is (``accounts.api.dpop``), against
    the access token the request presents (none with auth "none"); the view finds the
    proof as ``request.dpop`` (None without the header). With DPOP_NONCE, every answer
    to a request with a DPoP header carries a fresh nonce.
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
                presented = access_token(request) if auth != "none" else None
                request.dpop = await averify_request(request, presented and presented[1])
                request_load_for = load_for and functools.partial(load_for, request)
                principal, loaded = (
                    await authenticate(request, load, request_load_for, request.dpop)
                    if auth != "none"
                    else (None, None)
                )
                if principal is not None:
                    logcontext.note_user(principal.user)
                if (
                    csrf == "cookie"
                    and request.method in UNSAFE_METHODS
                    and (principal is None or principal.via == "session")
                    and has_cookie_credentials(request)
                ):
                    enforce_csrf(request)
                if principal is None and auth == "required":
                    raise not_authenticated()
                if load is not None or load_for is not None:
                    args = (loaded, *args)
                response = await view(request, principal, *args, **kwargs)
            except ApiError as exc:
                response = error_response(exc.status, exc.error, exc.detail, exc.headers)
            except RequestDataTooBig:
                response = error_response(
                    413, "request_too_large", "The request body is too large."
                )
            except SERVICE_ERRORS as exc:
                # One line: an outage would otherwise flood the log with a traceback
                # per request.
                logger.error(
                    "%s unavailable on %s: %s", unavailable_dependency(exc), request.path, exc
                )
                response = service_unavailable()
            add_never_cache_headers(response)
            if settings.DPOP_NONCE and HEADER in request.headers:
                response.setdefault("DPoP-Nonce", dpop.new_nonce())
            return response

        wrapper.csrf_exempt = True
        return wrapper

    return decorate
