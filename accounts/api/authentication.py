"""Who is calling: a Bearer or DPoP access token (``accounts.api.bearer``), else the
session cookie."""

import time

from django.utils import timezone

from ..models import LoginSession
from .base import ApiError, Principal, aload
from .bearer import authenticate_bearer


def access_token(request) -> tuple[str, str] | None:
    """Return the scheme ("bearer" or "dpop") and the token of the request's
    Authorization header, or None without one; raise ApiError 401 for any other."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        raise ApiError(
            401,
            "invalid_token",
            "The Authorization header must be 'Bearer <token>' or 'DPoP <token>'.",
        )
    return scheme, token


async def authenticate(
    request, load=None, load_for=None, proof=None
) -> tuple[Principal | None, object]:
    """Return the caller's principal (or None) and ``load(principal.user)`` (None
    without a principal or a ``load``). ``load_for(claims)`` may choose the ``load`` of
    an app access token (``authenticate_bearer``). An access token first (app-issued, or
    an Auth0 access token for AUTH0_AUDIENCE; as DPoP, bound to the key of ``proof``,
    the request's verified DPoP proof), else the session cookie. A token that does not
    verify is a 401, never a fallback to the cookie."""
    presented = access_token(request)
    if presented is not None:
        scheme, token = presented
        return await authenticate_bearer(token, load, load_for, proof=proof, scheme=scheme)
    user = await request.auser()
    if not user.is_authenticated:
        return None, None
    await _keep_session_alive(request)
    return Principal(user=user, via="session"), await aload(load, user)


SESSION_SEEN_KEY = "_seen"
SESSION_TOUCH_INTERVAL = 60


async def _keep_session_alive(request):
    """Mark the session as used, at most once a minute: saving it pushes its expiry
    (SESSION_IDLE_TIMEOUT after its last use) forward, and its login's ``last_used_at``
    (the session list's) moves with it."""
    now = int(time.time())
    seen = await request.session.aget(SESSION_SEEN_KEY, 0)
    if now - seen >= SESSION_TOUCH_INTERVAL:
        await request.session.aset(SESSION_SEEN_KEY, now)
        await LoginSession.objects.filter(session_key=request.session.session_key).aupdate(
            last_used_at=timezone.now()
        )
