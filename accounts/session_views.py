"""Thin async views for /api/v1/auth/sessions: the caller's sessions, listed and ended
(accounts.flows.sessions holds the rules)."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from .api.base import ApiError
from .api.endpoint import endpoint
from .flows import sessions as sessions_flow
from .requestkit import client_ip, request_meta


def _not_found():
    return ApiError(404, "not_found", "You have no such session.")


@endpoint(["GET", "DELETE"])
async def sessions(request, principal):
    if request.method == "GET":
        listed = await sessions_flow.alist(request, principal)
        return JsonResponse({"sessions": [session.body() for session in listed]})
    await sessions_flow.acount_ending(client_ip(request), principal.user.pk)
    ended = await sessions_flow.aend_others(request, principal, request_meta(request))
    return JsonResponse({"ended": ended})


@endpoint(["DELETE"])
async def session(request, principal, session_id):
    await sessions_flow.acount_ending(client_ip(request), principal.user.pk)
    ended = await sessions_flow.aend(request, principal, session_id, request_meta(request))
    if ended is None:
        raise _not_found()
    response = HttpResponse(status=204)
    if ended.current and principal.via == "session":
        response.delete_cookie(
            settings.REFRESH_COOKIE_NAME,
            path=settings.REFRESH_COOKIE_PATH,
            domain=settings.COOKIE_DOMAIN,
            samesite=settings.COOKIE_SAMESITE,
        )
    return response
