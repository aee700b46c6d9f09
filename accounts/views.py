"""Thin async views: parse, call a flow, shape the answer."""

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from organisations.access import (
    ALL_ACCESS,
    APPLICATION_ACCESS,
    FEATURE_ACCESS,
    applications_from_rows,
    features_from_rows,
)

from . import ratelimit
from .api.base import SERVICE_ERRORS, error_response, service_unavailable, unavailable_dependency
from .api.endpoint import endpoint
from .login import oidc
from .login.backchannel import BackchannelRefused
from .login.backchannel import backchannel_logout as backchannel_flow
from .login.begin import (
    BINDING_COOKIE,
    BINDING_COOKIE_PATH,
    FLOW_TTL,
    LoginRequestInvalid,
    begin_login,
)
from .login.callback import LoginFailed, complete_login
from .login.logout import logout as logout_flow
from .requestkit import client_ip, request_meta

logger = logging.getLogger(__name__)


def csrf_failure(request, reason=""):
    return error_response(403, "csrf_failed", f"CSRF verification failed: {reason}.")


def _login_error(request, code: str, reason: str, status: int):
    """Return a redirect to LOGIN_ERROR_URL?error=<code> when it is set, else a small
    HTML page with ``status`` (400; 502 when the identity provider failed)."""
    if settings.LOGIN_ERROR_URL:
        separator = "&" if "?" in settings.LOGIN_ERROR_URL else "?"
        response = HttpResponseRedirect(
            f"{settings.LOGIN_ERROR_URL}{separator}{urlencode({'error': code})}"
        )
    else:
        response = HttpResponse(
            render_to_string(
                "accounts/login_error.html",
                {"code": code, "reason": reason, "retry_url": settings.LOGIN_REDIRECT_URL},
                request=request,
            ),
            status=status,
        )
    add_never_cache_headers(response)
    return response


async def _limit_browser_endpoint(request):
    """Count the request per client IP on /auth/login and /auth/callback; return a 429
    with Retry-After and the JSON error shape past the limit, else None."""
    try:
        await ratelimit.ahit("login", client_ip(request), settings.RATE_LIMIT_LOGIN)
    except ratelimit.RateLimited as exc:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)
    return None


def _unavailable(request, exc: Exception):
    """Log a dependency that is down in one line and return the login error page (503)."""
    logger.error("%s unavailable on %s: %s", unavailable_dependency(exc), request.path, exc)
    return _login_error(
        request,
        "service_unavailable",
        "The service is temporarily unavailable; try again shortly.",
        503,
    )


@require_GET
async def login(request):
    try:
        if limited := await _limit_browser_endpoint(request):
            return limited
        start = await begin_login(
            request,
            next_param=request.GET.get("next"),
            organization=request.GET.get("organization"),
            invitation=request.GET.get("invitation"),
            mode=request.GET.get("mode"),
            handoff_challenge=request.GET.get("handoff_challenge"),
            step_up=request.GET.get("step_up"),
        )
    except LoginRequestInvalid as exc:
        return _login_error(request, exc.code, exc.reason, 400)
    except oidc.OIDCError as exc:
        return _login_error(request, exc.code, exc.reason, exc.status)
    except SERVICE_ERRORS as exc:
        return _unavailable(request, exc)
    response = HttpResponseRedirect(start.authorize_url)
    response.set_cookie(
        BINDING_COOKIE,
        start.binding,
        max_age=FLOW_TTL,
        path=BINDING_COOKIE_PATH,
        httponly=True,
        secure=settings.COOKIE_SECURE,
        samesite=settings.COOKIE_SAMESITE,
        domain=settings.COOKIE_DOMAIN,
    )
    add_never_cache_headers(response)
    return response


def _strict_cookie_bounce(request):
    """Return a page that re-opens the same URL when, with SameSite=Strict, the
    provider's cross-site redirect arrived without the binding cookie, else None. It
    consumes nothing and bounces at most once (docs/architecture.md)."""
    if (
        settings.COOKIE_SAMESITE != "Strict"
        or BINDING_COOKIE in request.COOKIES
        or request.headers.get("Sec-Fetch-Site") != "cross-site"
    ):
        return None
    response = HttpResponse(
        render_to_string(
            "accounts/strict_bounce.html", {"url": request.get_full_path()}, request=request
        )
    )
    add_never_cache_headers(response)
    return response


@require_GET
async def callback(request):
    try:
        if limited := await _limit_browser_endpoint(request):
            return limited
        if bounce := _strict_cookie_bounce(request):
            return bounce
        done = await complete_login(request)
    except LoginFailed as exc:
        if exc.status >= 500:
            # The provider failed: operators need the reason, the user sees the code.
            logger.warning("login callback failed (%s): %s", exc.code, exc.reason)
        return _login_error(request, exc.code, exc.reason, exc.status)
    except SERVICE_ERRORS as exc:
        return _unavailable(request, exc)
    response = HttpResponseRedirect(done.redirect_to)
    add_never_cache_headers(response)
    return response


@endpoint(["POST"], auth="optional")
async def logout(request, principal):
    logout_url = await logout_flow(request, principal)
    response = JsonResponse({"logout_url": logout_url})
    response.delete_cookie(
        settings.REFRESH_COOKIE_NAME,
        path=settings.REFRESH_COOKIE_PATH,
        domain=settings.COOKIE_DOMAIN,
        samesite=settings.COOKIE_SAMESITE,
    )
    return response


@csrf_exempt
@require_POST
async def backchannel_logout(request):
    """End the sessions a provider's logout token names. Server to server: not
    CSRF-protected, never cached."""
    try:
        await backchannel_flow(request.POST.get("logout_token", ""), request_meta(request))
    except BackchannelRefused as exc:
        return error_response(400, "invalid_request", exc.reason)
    except SERVICE_ERRORS as exc:
        # The provider retries a logout that was not answered with 200.
        logger.error("%s unavailable on %s: %s", unavailable_dependency(exc), request.path, exc)
        return service_unavailable()
    response = JsonResponse({})
    add_never_cache_headers(response)
    return response


@endpoint(["GET"], auth="optional")
async def csrf(request, principal):
    return JsonResponse({"csrf_token": get_token(request)})


def me_body(user, applications: list[dict], features: dict[str, bool]) -> dict:
    """Return the body of GET /api/v1/auth/me (also written by authsite.fastlane)."""
    organisation = user.organisation
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.name,
        "picture": user.picture,
        "role": user.role,
        "organisation": None
        if organisation is None
        else {
            "id": organisation.pk,
            "name": organisation.name,
            "slug": organisation.slug,
            "subscription_plan": organisation.subscription_plan,
        },
        "applications": [
            {"code": app["code"], "name": app["name"], "tier": app["tier"]} for app in applications
        ],
        "features": features,
    }


@endpoint(["GET"], load=ALL_ACCESS)
async def me(request, principal, access):
    user = principal.user
    applications, features = access
    return JsonResponse(
        me_body(
            user,
            applications_from_rows(applications),
            features_from_rows(features, user.pk, timezone.now()),
        )
    )


@endpoint(["GET"], load=FEATURE_ACCESS)
async def features(request, principal, access):
    _, rows = access
    return JsonResponse({"features": features_from_rows(rows, principal.user.pk, timezone.now())})


@endpoint(["GET"], load=APPLICATION_ACCESS)
async def applications(request, principal, access):
    rows, _ = access
    return JsonResponse({"applications": applications_from_rows(rows)})
