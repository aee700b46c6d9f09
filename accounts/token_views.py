"""Thin async views for app tokens: /api/v1/auth/token, /refresh, /revoke and the JWKS.

The refresh cookie is named ``settings.REFRESH_COOKIE_NAME`` ("refresh_token") and
scoped to ``settings.REFRESH_COOKIE_PATH`` ("/api/v1/auth/"): only the token endpoints
ever receive it, never the rest of the API or the pages. It is HttpOnly (no script can
read the token), Secure and SameSite per the cookie policy (accounts/cookies.py rewrites
every cookie with the same attributes).
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import keys
from .api.base import (
    SERVICE_ERRORS,
    ApiError,
    error_response,
    not_authenticated,
    service_unavailable,
)
from .api.endpoint import endpoint, enforce_csrf, read_json
from .flows import refresh as refresh_flow
from .flows import token as token_flow
from .requestkit import base_url, client_ip, request_meta
from .tokens import access as access_tokens
from .tokens import dpop


def set_refresh_cookie(response, refresh_token: str) -> None:
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        refresh_token,
        max_age=settings.REFRESH_TOKEN_TTL,
        path=settings.REFRESH_COOKIE_PATH,
        domain=settings.COOKIE_DOMAIN,
        secure=settings.COOKIE_SECURE,
        httponly=True,
        samesite=settings.COOKIE_SAMESITE,
    )


def delete_refresh_cookie(response) -> None:
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        "",
        max_age=0,
        expires="Thu, 01 Jan 1970 00:00:00 GMT",
        path=settings.REFRESH_COOKIE_PATH,
        domain=settings.COOKIE_DOMAIN,
        secure=settings.COOKIE_SECURE,
        httponly=True,
        samesite=settings.COOKIE_SAMESITE,
    )


def presented_refresh_token(request, body: dict, missing: ApiError) -> tuple[str, bool]:
    """Return (token, whether it came from the cookie). The body wins over the cookie;
    a cookie's token needs the CSRF check. Raise ``missing`` when neither carries one."""
    if "refresh_token" in body:
        value = body["refresh_token"]
        if not isinstance(value, str) or not value:
            raise ApiError(400, "invalid_request", "refresh_token must be a non-empty string.")
        return value, False
    cookie = request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    if cookie:
        # A cookie is ambient: whatever authenticated the request, spending it needs
        # the CSRF token and a trusted Origin.
        enforce_csrf(request)
        return cookie, True
    raise missing


async def _issue_in_lookup(request, claims: dict):
    """Return the ``load`` that issues the pair of a caller holding an app access token
    in the same thread hop as its family's lookup, once the request is counted (the
    token's subject is the user the lookup proves); or None when the body redeems a
    login code or cannot be read, and the view counts and answers as for any caller.
    Raise RateLimited past the limits."""
    try:
        body = read_json(request)
    except (ApiError, RequestDataTooBig):
        return None
    if "login_code" in body:
        return None
    await refresh_flow.acount_token_request(client_ip(request), claims["sub"])
    return await token_flow.app_token_issue(claims, meta=request_meta(request))


@endpoint(["POST"], auth="optional", load_for=_issue_in_lookup)
async def token(request, principal, issued):
    if issued is not None:
        grant, signer = issued
        return JsonResponse(access_tokens.pair(grant, issuer=base_url(request), signer=signer))
    await refresh_flow.acount_token_request(
        client_ip(request), principal.user.pk if principal else None
    )
    body = read_json(request)
    issuer, meta = base_url(request), request_meta(request)
    if "login_code" in body:
        pair = await token_flow.redeem_login_code(
            body["login_code"],
            body.get("handoff_verifier"),
            issuer=issuer,
            meta=meta,
            proof=request.dpop,
        )
        return JsonResponse(pair)
    if principal is None:
        raise not_authenticated()
    pair = await token_flow.issue_for_principal(
        principal,
        issuer=issuer,
        session_key=request.session.session_key or "",
        meta=meta,
        proof=request.dpop,
    )
    response = JsonResponse(pair)
    if principal.via == "session":
        set_refresh_cookie(response, pair["refresh_token"])
    return response


@endpoint(["POST"], auth="none", csrf="never")
async def refresh(request, principal):
    # No token at all is a refresh that cannot authenticate: one of /refresh's 401s.
    missing = ApiError(401, "invalid_token", "No refresh token was presented.")
    presented, from_cookie = presented_refresh_token(request, read_json(request), missing)
    try:
        pair = await refresh_flow.refresh(
            presented,
            issuer=base_url(request),
            meta=request_meta(request),
            counted=refresh_flow.lane_count(request),
            proof=request.dpop,
        )
    except ApiError as exc:
        # Only a definitive refusal clears the cookie; a request that lost a rotation
        # race succeeds through the grace path and never gets here. A refusal for want
        # of the family's DPoP key spends nothing: the cookie stays for a request with it.
        if not (from_cookie and exc.status == 401) or exc.error == dpop.INVALID:
            raise
        response = error_response(exc.status, exc.error, exc.detail, exc.headers)
        delete_refresh_cookie(response)
        return response
    response = JsonResponse(pair)
    if from_cookie:
        set_refresh_cookie(response, pair["refresh_token"])
    return response


@endpoint(["POST"], auth="none", csrf="never")
async def revoke(request, principal):
    missing = ApiError(400, "invalid_request", "refresh_token is required.")
    presented, from_cookie = presented_refresh_token(request, read_json(request), missing)
    await refresh_flow.revoke(presented, meta=request_meta(request))
    response = JsonResponse({})
    if from_cookie or request.COOKIES.get(settings.REFRESH_COOKIE_NAME) == presented:
        delete_refresh_cookie(response)
    return response


@csrf_exempt
async def jwks(request):
    """Answer the public keys of app tokens, cacheable and readable from any origin.
    It takes no credentials, so it needs no CSRF check."""
    if request.method not in ("GET", "HEAD"):
        return error_response(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed here.",
            {"Allow": "GET, HEAD"},
        )
    try:
        document = await keys.ajwks()
    except SERVICE_ERRORS:
        return service_unavailable()
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={keys.JWKS_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
