"""POST /auth/logout: end the session, revoke the refresh-token families born from it,
and tell the web app where to end the identity provider's session."""

from importlib import import_module

from django.conf import settings
from django.contrib.auth import alogout
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from authsite.db import in_thread

from ..models import AuditEvent, AuditType, LoginSession, RefreshToken, TokenFamily
from ..redirects import default_landing
from ..requestkit import request_meta
from ..tokens.refresh import arevoke_family, revoke_session_families, revoke_user_families
from . import oidc


def end_login_session(session_key: str, reason: str) -> None:
    """Delete the Django session and its link to the provider's session, and revoke
    every token family born from it, as one atomic unit."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    with transaction.atomic():
        store(session_key).delete()
        LoginSession.objects.filter(session_key=session_key).delete()
        revoke_session_families(session_key, reason)


def end_all_sessions(user, reason: str) -> None:
    """End every login session of the user and revoke every token family (so every app
    access token fails at its next use), as one atomic unit. For people without a usable
    password (everyone who comes through the identity provider) renew the session hash
    as well, which ends any other session of theirs; an operator's password sessions end
    when their password changes."""
    with transaction.atomic():
        for session_key in LoginSession.objects.filter(user=user).values_list(
            "session_key", flat=True
        ):
            end_login_session(session_key, reason)
        revoke_user_families(user, reason)
        if not user.has_usable_password():
            user.set_unusable_password()
            user.save(update_fields=["password"])


def live_logins(now):
    """Return the login sessions whose Django session exists and has not expired at
    ``now``."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    live_keys = store.get_model_class().objects.filter(expire_date__gt=now).values("session_key")
    return LoginSession.objects.filter(session_key__in=live_keys)


def live_families(now):
    """Return the token families that are not revoked and hold a refresh token that is
    neither spent, revoked nor expired at ``now``."""
    spendable = RefreshToken.objects.filter(
        family=OuterRef("pk"), used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    return TokenFamily.objects.filter(Exists(spendable), revoked_at__isnull=True)


def sessions_to_end(users) -> tuple[int, int]:
    """Return how many browser sessions and token families ``end_all_sessions`` would end
    now for the people of ``users`` (a queryset): their live ones (``live_logins``,
    ``live_families``)."""
    now = timezone.now()
    return (
        live_logins(now).filter(user__in=users).count(),
        live_families(now).filter(user__in=users).count(),
    )


async def logout(request, principal) -> str:
    """Log the caller out (idempotent: an anonymous caller just gets the URL) and
    return the provider's logout URL.

    A session caller's session ends with its families. A Bearer caller's token family
    is revoked, and so is the session that family was born from, if any: a token-mode
    login also leaves a session on the API's own site, which logging out of the web app
    must end too."""
    if principal is not None:
        meta = request_meta(request)
        user = principal.user
        if principal.via == "session":
            await in_thread(end_login_session)(request.session.session_key, "logout")
            await alogout(request)
        elif principal.family_id:
            born_from = (
                await TokenFamily.objects.filter(pk=principal.family_id)
                .values_list("session_key", flat=True)
                .afirst()
            )
            if born_from:
                await in_thread(end_login_session)(born_from, "logout")
            else:
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
