"""The JSON API's shapes: the caller (``Principal``) and the one error shape.

Every `/api/` answer that is not a success is ``{"error": code, "detail": sentence}``
with the right status, raised anywhere below a view as ``ApiError``.
"""

from dataclasses import dataclass, field

import redis
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers

from authsite.db import in_thread

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
    """Return the name of the dependency that raised one of SERVICE_ERRORS, for the
    log."""
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


async def aload(load, user):
    """Return ``load(user)`` run in the project's database threads, or None without a
    ``load``."""
    return await in_thread(load)(user) if load is not None else None
