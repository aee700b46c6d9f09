"""POST /auth/logout: end the session, revoke the refresh-token families born from it,
and tell the web app where to end the identity provider's session."""

from django.contrib.auth import alogout

from .. import oidc
from ..models import AuditEvent, AuditType, LoginSession
from ..redirects import default_landing
from ..requestkit import request_meta


async def logout(request, principal) -> str:
    """Log the caller out (idempotent: an anonymous caller just gets the URL) and
    return the provider's logout URL."""
    from ..tokens import arevoke_family, arevoke_session_families

    if principal is not None:
        meta = request_meta(request)
        user = principal.user
        if principal.via == "session":
            session_key = request.session.session_key
            await arevoke_session_families(session_key, "logout")
            await LoginSession.objects.filter(session_key=session_key).adelete()
            await alogout(request)
        elif principal.family_id:
            await arevoke_family(principal.family_id, "logout")
        await AuditEvent.objects.acreate(
            type=AuditType.LOGOUT,
            user_id=user.pk,
            organisation_id=user.organisation_id,
            ip=meta.ip,
            user_agent=meta.user_agent,
            details={"via": principal.via},
        )
    return await oidc.logout_url(default_landing())
