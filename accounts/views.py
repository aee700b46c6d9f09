"""Thin async views: parse, call a flow, shape the answer."""

from django.http import JsonResponse
from django.middleware.csrf import get_token

from .api import endpoint, error_response


def csrf_failure(request, reason=""):
    return error_response(403, "csrf_failed", f"CSRF verification failed: {reason}.")


@endpoint(["GET"], auth="optional")
async def csrf(request, principal):
    return JsonResponse({"csrf_token": get_token(request)})
