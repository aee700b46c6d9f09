"""Refresh tokens: issued in families, revoked by family (``rotation`` spends them)."""

import secrets
from contextlib import nullcontext
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import FETCH_RAISE
from django.utils import timezone

from authsite import metrics
from authsite.compiled import insert_linked, linked_inserts_statement
from authsite.db import in_thread
from organisations.access import APPLICATIONS, applications_for, applications_from_rows

from ..models import AuditEvent, AuditType, RefreshToken, TokenFamily
from ..upsert import RequestMeta
from .base import NO_META, Grant, audit, audit_event, grant_for, hash_token


def new_refresh_token(family_id, now, parent_id=None) -> tuple[RefreshToken, str]:
    """Return a refresh token of the family, not yet saved, and its plaintext."""
    plaintext = secrets.token_urlsafe(32)
    token = RefreshToken(
        family_id=family_id,
        token_hash=hash_token(plaintext),
        parent_id=parent_id,
        expires_at=now + timedelta(seconds=settings.REFRESH_TOKEN_TTL),
    )
    return token, plaintext


def issue_grant(
    user,
    *,
    session_key: str = "",
    family_id=None,
    meta: RequestMeta = NO_META,
    dpop_jkt: str = "",
    grant: str = "api",
) -> Grant:
    """Issue a new refresh token, with a TOKEN_ISSUED audit event naming ``grant`` (how
    it was granted), in one transaction (the caller's, when one is open); return its
    grant.

    Without ``family_id`` a new family is made (one per grant), remembering
    ``session_key`` so that logging out of that session revokes it, and bound to the
    DPoP key ``dpop_jkt`` when not empty. With ``family_id`` (a caller holding an app
    access token of that family) the token joins that family, so that a pair minted from
    an access token dies with the family it came from; ``dpop_jkt`` is then the family's
    binding, which the access token states (``access.bound_key``)."""
    now = timezone.now()
    new_family = family_id is None
    # The token and its event alone are one statement on PostgreSQL (insert_issued).
    with transaction.atomic(savepoint=False) if new_family else nullcontext():
        if new_family:
            family_id = TokenFamily.objects.create(
                user=user,
                session_key=session_key or "",
                ip=meta.ip,
                user_agent=meta.user_agent,
                dpop_jkt=dpop_jkt,
            ).pk
        token, plaintext = new_refresh_token(family_id, now)
        event = audit_event(
            AuditType.TOKEN_ISSUED, user, meta, family=str(family_id), token=None, grant=grant
        )
        applications = insert_issued(token, event, user)
    return grant_for(user, family_id, plaintext, applications, dpop_jkt)


def issued_statement(token: RefreshToken, event: AuditEvent, connection):
    """Return (SQL, parameters) of the one PostgreSQL statement that inserts a new refresh
    token and its audit event, whose details name the token's id as "token" (what
    ``insert_issued`` runs without a user, for the fast lane's own connection)."""
    return linked_inserts_statement(token, event, "details", "token", None, connection)


def insert_issued(token: RefreshToken, event: AuditEvent, user=None) -> list[dict] | None:
    """Insert a new refresh token and its audit event, whose details name the token's id
    as "token", both or neither (``insert_linked``: one statement on PostgreSQL); given
    ``user``, return their applications as ``applications_for`` does, read in that same
    statement on PostgreSQL."""
    owner = {} if user is None else {"user_id": user.pk, "organisation_id": user.organisation_id}
    query = APPLICATIONS if owner else None
    rows = insert_linked(token, event, "details", "token", connection, query, **owner)
    if user is None:
        return None
    return (
        applications_for(user) if rows is None else applications_from_rows(APPLICATIONS.rows(rows))
    )


def revoke_families(queryset, reason: str, now) -> int:
    """Revoke the live families of ``queryset`` for ``reason``, counting them in the
    metrics once committed; return how many."""
    revoked = queryset.filter(revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason[:50]
    )
    if revoked:
        transaction.on_commit(
            partial(metrics.count, metrics.FAMILIES_REVOKED, reason, amount=revoked)
        )
    return revoked


def revoke_refresh_token(presented: str, *, meta: RequestMeta = NO_META) -> bool:
    """Revoke the family of a refresh token (RFC 7009: the caller's answer is the same
    whether the token was known or not). Return whether a live family was revoked."""
    now = timezone.now()
    with transaction.atomic():
        token = (
            RefreshToken.objects.select_related("family__user")
            .fetch_mode(FETCH_RAISE)
            .filter(token_hash=hash_token(presented))
            .first()
        )
        if token is None:
            return False
        revoked = revoke_families(TokenFamily.objects.filter(pk=token.family_id), "revoked", now)
        if revoked:
            audit(
                AuditType.TOKEN_REVOKED,
                token.family.user,
                meta,
                family=str(token.family_id),
                reason="revoked",
            )
    return bool(revoked)


def revoke_family(family_id, reason: str) -> int:
    """Revoke one family (logout of a Bearer caller). Return 1, or 0 when it was
    already revoked or unknown."""
    return revoke_families(TokenFamily.objects.filter(pk=family_id), reason, timezone.now())


arevoke_family = in_thread(revoke_family)


def revoke_session_families(session_key: str, reason: str) -> int:
    """Revoke every family born from a Django session (logout, back-channel logout).
    An empty session key revokes nothing. Return the number revoked."""
    if not session_key:
        return 0
    return revoke_families(
        TokenFamily.objects.filter(session_key=session_key), reason, timezone.now()
    )


def revoke_user_families(user, reason: str) -> int:
    """Revoke every family of a user (the admin's "revoke every session and token").
    The caller records the audit event. Return the number revoked."""
    return revoke_families(TokenFamily.objects.filter(user_id=user.pk), reason, timezone.now())


aissue_grant = in_thread(issue_grant)


def refresh_token_owner(presented: str):
    """Return the id of the user a refresh token belongs to, or None: for per-user rate
    limits, counted before the token is spent."""
    return (
        RefreshToken.objects.filter(token_hash=hash_token(presented))
        .values_list("family__user_id", flat=True)
        .first()
    )
