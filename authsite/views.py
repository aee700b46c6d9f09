"""Operations endpoints and the JSON error pages of `/api/`."""

import asyncio
import hmac
import logging

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.staticfiles.views import serve as serve_static
from django.db import DatabaseError, connection
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views import defaults

from accounts.api.base import error_response

from . import metrics as metrics_registry

READINESS_TIMEOUT = 5.0
logger = logging.getLogger(__name__)


async def healthz(request):
    """Answer 200 while the process is alive, without touching the database."""
    response = JsonResponse({"status": "ok"})
    add_never_cache_headers(response)
    return response


def _ping_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()


async def readyz(request):
    """Answer 200 when the database answers within a bounded time, through Django's
    connections and through the fast lane's pool when this process opened one; else
    503."""

    from authsite.fastlane.database import aping as lane_ping

    try:
        async with asyncio.timeout(READINESS_TIMEOUT):
            await sync_to_async(_ping_database)()
            await lane_ping()
    except (DatabaseError, psycopg.Error, TimeoutError) as exc:
        logger.error("database unavailable for /readyz: %s", exc or "timed out")
        response = JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    else:
        response = JsonResponse({"status": "ok", "database": "ok"})
    add_never_cache_headers(response)
    return response


async def metrics(request):
    """Answer every count in Prometheus's text format to the holder of METRICS_TOKEN;
    404 when it is unset, 401 with a missing or wrong token."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    ):
        return error_response(
            401,
            "invalid_token",
            "Send Authorization: Bearer with the METRICS_TOKEN of this server.",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    from authsite.fastlane.database import lane_pool

    metrics_registry.record_pool_stats(lane_pool)
    body = await sync_to_async(metrics_registry.exposition, thread_sensitive=False)()
    response = HttpResponse(body, content_type=metrics_registry.CONTENT_TYPE)
    add_never_cache_headers(response)
    return response


async def static_file(request, path):
    """Serve a static file (the admin's and the API docs' assets) found in the apps'
    static directories, with Last-Modified, through the middleware like every answer.
    The file is read in one thread hop, as Django's ASGI static files handler does."""
    response = await sync_to_async(serve_static)(request, path, insecure=True)
    if response.streaming and not response.is_async:
        chunks = await sync_to_async(list)(response.streaming_content)

        async def content():
            for chunk in chunks:
                yield chunk

        response.streaming_content = content()
    return response


def _is_api(request):
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return error_response(404, "not_found", "There is nothing at this address.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return error_response(
            500, "server_error", "Something went wrong on our side; it has been logged."
        )
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return error_response(400, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return error_response(403, "forbidden", "You may not do this.")
    return defaults.permission_denied(request, exception)


def drf_exception_handler(exc, context):
    """Give the errors of DRF's views (the schema and the docs) the API's shape; return
    None for an exception DRF does not handle."""
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    return error_response(response.status_code, code, str(getattr(exc, "detail", exc)))
