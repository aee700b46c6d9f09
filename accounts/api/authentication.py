"""Who is calling: a Bearer token (``accounts.api.bearer``), else the session cookie."""

import time

from django.utils import timezone

from ..models import LoginSession
from .base import ApiError, Principal, aload
from .bearer import authenticate_bearer


async def authenticate(request, load=None, load_for=None) -> tuple[Principal | None, object]:
    """Return the caller's principal (or None) and ``load(principal.user)`` (None
    without a principal or a ``load``). ``load_for(claims)`` may choose the ``load`` of
    an app access token (``authenticate_bearer``). Bearer token first (app-issued, or an Auth0
    access token for AUTH0_AUDIENCE), else the session cookie. A Bearer token that does
    not verify is a 401, never a fallback to the cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "invalid_token", "The Authorization header must be 'Bearer <token>'."
            )
        return await authenticate_bearer(token.strip(), load, load_for)
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
