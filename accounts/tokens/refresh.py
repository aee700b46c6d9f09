"""Refresh tokens: issued in families, rotated once each, revoked by family."""

import secrets
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import FETCH_RAISE, Subquery
from django.utils import timezone

from authsite import metrics
from authsite.compiled import linked_inserts_statement, run_prepared
from authsite.db import in_thread
from organisations.access import (
    APPLICATIONS,
    applications_for,
    applications_from_rows,
    applications_query,
)

from ..models import AuditEvent, AuditType, RefreshToken, TokenFamily, User
from ..rows import user_columns, user_from_row
from ..upsert import RequestMeta
from .base import (
    NO_META,
    Grant,
    TokenError,
    account_is_active,
    audit,
    audit_event,
    grant_for,
    hash_token,
    invalid_token,
    new_grant,
)


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


def save_new_refresh_token(family_id, now, parent_id=None) -> tuple[RefreshToken, str]:
    token, plaintext = new_refresh_token(family_id, now, parent_id)
    token.save(force_insert=True)
    return token, plaintext


def issue_grant(
    user,
    *,
    session_key: str = "",
    family_id=None,
    meta: RequestMeta = NO_META,
    dpop_jkt: str = "",
) -> Grant:
    """Issue a new refresh token, with a TOKEN_ISSUED audit event, in one transaction;
    return its grant.

    Without ``family_id`` a new family is made (one per grant), remembering
    ``session_key`` so that logging out of that session revokes it, and bound to the
    DPoP key ``dpop_jkt`` when not empty. With ``family_id`` (a caller holding an app
    access token of that family) the token joins that family, so that a pair minted from
    an access token dies with the family it came from; ``dpop_jkt`` is then the family's
    binding, which the access token states (``access.bound_key``)."""
    now = timezone.now()
    new_family = family_id is None
    # The token and its event alone are one statement on PostgreSQL (insert_issued).
    with transaction.atomic() if new_family else nullcontext():
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
            AuditType.TOKEN_ISSUED, user, meta, family=str(family_id), token=None, grant="api"
        )
        applications = insert_issued(token, event, user)
    return grant_for(user, family_id, plaintext, applications, dpop_jkt)


def insert_issued(token: RefreshToken, event: AuditEvent, user) -> list[dict]:
    """Insert a new refresh token and its audit event, whose details name the token's id
    as "token", both or neither, and return the user's applications as
    ``applications_for`` does. On PostgreSQL one statement (compiled once,
    ``linked_inserts_statement``) inserts both and reads the applications from the
    database; elsewhere the ORM inserts them in a transaction."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            token.save(force_insert=True)
            event.details["token"] = token.pk
            event.save()
        return applications_for(user)
    sql, params = linked_inserts_statement(
        token,
        event,
        "details",
        "token",
        APPLICATIONS,
        connection,
        user_id=user.pk,
        organisation_id=user.organisation_id,
    )
    # Inside a transaction a failure marks it for rollback, as a failed save() does.
    with transaction.mark_for_rollback_on_error(), run_prepared(connection, sql, params) as cursor:
        return applications_from_rows(APPLICATIONS.rows(cursor.fetchall()))


def rotate_refresh_token(
    presented: str, *, meta: RequestMeta = NO_META, dpop_jkt: str = ""
) -> Grant:
    """Spend a refresh token and hand back its successor, or raise TokenError.
    ``dpop_jkt`` is the thumbprint of the key of the request's verified DPoP proof, ""
    without one.

    One transaction; the race between concurrent presentations is settled by one
    conditional ``UPDATE … SET used_at WHERE used_at IS NULL AND revoked_at IS NULL``
    (``unspent_query``): exactly one caller wins and its new token is the presented
    token's child. A caller that finds the token already spent:
    - within REFRESH_REUSE_GRACE of its use (a concurrent retry: two tabs, a lost
      response), gets a sibling in the same family (a new token without a parent: the
      child slot belongs to the winner), so every racer ends with a valid pair and no
      one's cookie has to be deleted;
    - after the grace, revokes the whole family (revoke_reason "reuse"), writes
      TOKEN_REUSED and is refused with ``token_reused``: a thief and the legitimate
      holder both lose, and the holder logs in again.
    Unknown → ``invalid_token``; of a family bound to another DPoP key than
    ``dpop_jkt``, or presented without a proof → ``invalid_dpop_proof``, before anything
    else is judged, so that neither the token nor reuse detection is spent by a request
    without the key; revoked → ``invalid_token``; expired → ``token_expired``;
    deactivated user or organisation → ``user_inactive`` (``judge_presented``). The
    successor keeps the family's binding, whatever the proof (a family's binding never
    changes). Successes write TOKEN_REFRESHED in the same transaction
    (``refreshed_event``)."""
    now = timezone.now()
    with transaction.atomic():
        outcome = _rotate(hash_token(presented), now, meta, dpop_jkt)
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


def presented_token_query(token_hash: str):
    """Return a presented refresh token as one row: its id, revocation and expiry, its
    family's id, revocation and DPoP key thumbprint, then its user and their
    organisation (``user_columns``).
    The one definition of the read every rotation starts with; ``authsite.fastlane``
    runs the SQL Django compiles from it."""
    return RefreshToken.objects.filter(token_hash=token_hash).values_list(
        "pk",
        "revoked_at",
        "expires_at",
        "family_id",
        "family__revoked_at",
        "family__dpop_jkt",
        *user_columns("family__user__"),
    )


def presented_token_applications_query(token_hash: str):
    """Return ``applications_query`` for the user and organisation of a presented refresh
    token, read from the token in the same statement: what the new access token's
    ``apps`` claim lists. ``authsite.fastlane`` batches it with ``presented_token_query``."""
    owner = RefreshToken.objects.filter(token_hash=token_hash)
    return applications_query(
        Subquery(owner.values("family__user_id")[:1]),
        Subquery(owner.values("family__user__organisation_id")[:1]),
    )


@dataclass(frozen=True)
class Presented:
    """A presented refresh token that may be spent."""

    token_id: int
    family_id: uuid.UUID
    user: User
    dpop_jkt: str


def judge_presented(row, now, dpop_jkt: str = "") -> Presented | TokenError:
    """Judge a token by the rules it must pass before it is spent, on its
    ``presented_token_query`` row (or None) and the thumbprint of the request's DPoP
    key ("" without a proof); return it as Presented, or the TokenError: unknown →
    ``invalid_token``; of a family bound to another key → ``invalid_dpop_proof``;
    revoked (itself or its family) → ``invalid_token``; expired → ``token_expired``;
    deactivated user or organisation → ``user_inactive``."""
    if row is None:
        return invalid_token("The refresh token is not valid.")
    token_id, revoked_at, expires_at, family_id, family_revoked_at, bound = row[:6]
    if bound and bound != dpop_jkt:
        return TokenError(
            "invalid_dpop_proof",
            "This refresh token is bound to a DPoP key: present it with a proof by that key.",
        )
    if revoked_at is not None or family_revoked_at is not None:
        return invalid_token("The refresh token is not valid.")
    if expires_at <= now:
        return TokenError("token_expired", "The refresh token has expired; log in again.")
    user = user_from_row(row[6:])
    if not account_is_active(user):
        return TokenError("user_inactive", "This account or its organisation is deactivated.")
    return Presented(token_id=token_id, family_id=family_id, user=user, dpop_jkt=bound)


def unspent_query(token_id):
    """Return the token while it is neither spent nor revoked: spending it is
    ``.update(used_at=now)`` on this, and the one caller that updates a row has won the
    rotation."""
    return RefreshToken.objects.filter(pk=token_id, used_at__isnull=True, revoked_at__isnull=True)


def refreshed_event(presented: Presented, successor_id, meta: RequestMeta, *, grace: bool):
    """Return the TOKEN_REFRESHED audit event of a rotation, not yet saved."""
    return audit_event(
        AuditType.TOKEN_REFRESHED,
        presented.user,
        meta,
        family=str(presented.family_id),
        token=successor_id,
        presented=presented.token_id,
        grace=grace,
    )


def count_rotation(*, grace: bool) -> None:
    """Count a committed rotation in the metrics, and a grace retry apart."""
    metrics.count(metrics.REFRESH_ROTATIONS)
    if grace:
        metrics.count(metrics.REFRESH_GRACE_RETRIES)


def _rotate(token_hash: str, now, meta: RequestMeta, dpop_jkt: str) -> Grant | TokenError:
    presented = judge_presented(presented_token_query(token_hash).first(), now, dpop_jkt)
    if isinstance(presented, TokenError):
        return presented
    family_id, user = presented.family_id, presented.user
    won = unspent_query(presented.token_id).update(used_at=now)
    if won:
        successor, plaintext = save_new_refresh_token(family_id, now, parent_id=presented.token_id)
    else:
        used_at = (
            RefreshToken.objects.values_list("used_at", flat=True)
            .filter(pk=presented.token_id)
            .first()
        )
        if used_at is None:
            return invalid_token("The refresh token is not valid.")
        if now - used_at > timedelta(seconds=settings.REFRESH_REUSE_GRACE):
            _revoke_families(TokenFamily.objects.filter(pk=family_id), "reuse", now)
            transaction.on_commit(partial(metrics.count, metrics.REFRESH_REUSE))
            audit(
                AuditType.TOKEN_REUSED,
                user,
                meta,
                family=str(family_id),
                token=presented.token_id,
            )
            return TokenError(
                "token_reused",
                "This refresh token was already used; its sessions are ended. Log in again.",
            )
        successor, plaintext = save_new_refresh_token(family_id, now)
    refreshed_event(presented, successor.pk, meta, grace=not won).save()
    transaction.on_commit(partial(count_rotation, grace=not won))
    return new_grant(user, family_id, plaintext, presented.dpop_jkt)


def _revoke_families(queryset, reason: str, now) -> int:
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
        revoked = _revoke_families(TokenFamily.objects.filter(pk=token.family_id), "revoked", now)
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
    return _revoke_families(TokenFamily.objects.filter(pk=family_id), reason, timezone.now())


arevoke_family = in_thread(revoke_family)


def revoke_session_families(session_key: str, reason: str) -> int:
    """Revoke every family born from a Django session (logout, back-channel logout).
    An empty session key revokes nothing. Return the number revoked."""
    if not session_key:
        return 0
    return _revoke_families(
        TokenFamily.objects.filter(session_key=session_key), reason, timezone.now()
    )


def revoke_user_families(user, reason: str) -> int:
    """Revoke every family of a user (the admin's "revoke every session and token").
    The caller records the audit event. Return the number revoked."""
    return _revoke_families(TokenFamily.objects.filter(user_id=user.pk), reason, timezone.now())


aissue_grant = in_thread(issue_grant)


def refresh_token_owner(presented: str):
    """Return the id of the user a refresh token belongs to, or None: for per-user rate
    limits, counted before the token is spent."""
    return (
        RefreshToken.objects.filter(token_hash=hash_token(presented))
        .values_list("family__user_id", flat=True)
        .first()
    )
