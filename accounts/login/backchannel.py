"""POST /auth/backchannel-logout: the identity provider tells us a session ended.

The logout token is verified (accounts/login/oidc), its `jti` is recorded in the shared cache
so a replay is refused by every process, and then — as one atomic unit — the Django
sessions born from that provider session (`sid`), or from every session of that
identity (`sub`), are deleted, their refresh-token families revoked, and an audit event
written. When that unit fails, the `jti` is forgotten again, so that the provider's
retry is not refused as a replay.
"""

import contextlib
import hashlib

from django.core.cache import cache
from django.db import transaction
from django.db.models import FETCH_RAISE

from authsite.db import in_thread

from ..api.base import SERVICE_ERRORS
from ..models import AuditEvent, AuditType, LoginSession
from ..upsert import RequestMeta
from . import oidc
from .logout import end_login_session

JTI_MEMORY = 3600


class BackchannelRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _end_sessions(issuer: str, claims: dict, meta: RequestMeta) -> int:
    with transaction.atomic():
        sessions = LoginSession.objects.fetch_mode(FETCH_RAISE).filter(identity__issuer=issuer)
        if isinstance(claims.get("sid"), str):
            sessions = sessions.filter(idp_sid=claims["sid"])
        if isinstance(claims.get("sub"), str):
            sessions = sessions.filter(identity__subject=claims["sub"])
        sessions = list(sessions)
        for login_session in sessions:
            end_login_session(login_session.session_key, "backchannel_logout")
        user = sessions[0].user_id if sessions else None
        AuditEvent.objects.create(
            type=AuditType.BACKCHANNEL_LOGOUT,
            user_id=user,
            ip=meta.ip,
            user_agent=meta.user_agent,
            details={
                "sub": claims.get("sub"),
                "sid": claims.get("sid"),
                "sessions_ended": len(sessions),
            },
        )
    return len(sessions)


async def backchannel_logout(logout_token: str, meta: RequestMeta) -> int:
    """End the sessions a valid logout token names; return how many ended. Raise
    BackchannelRefused for a token that does not verify or was already used."""
    try:
        claims = await oidc.verify_logout_token(logout_token)
    except oidc.OIDCError as exc:
        raise BackchannelRefused(exc.reason) from None
    jti_key = (
        "backchannel-jti:" + hashlib.sha256(f"{claims['iss']}|{claims['jti']}".encode()).hexdigest()
    )
    if not await cache.aadd(jti_key, True, JTI_MEMORY):
        raise BackchannelRefused("this logout token was already used")
    try:
        return await in_thread(_end_sessions)(claims["iss"], claims, meta)
    except Exception:
        # Nothing was ended: the jti is not spent, so the provider's retry gets through.
        with contextlib.suppress(*SERVICE_ERRORS):
            await cache.adelete(jti_key)
        raise
