"""Refresh tokens rotated: each spent once for its successor, the race between
concurrent presentations settled in the database, reuse after the grace ending its
family."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery
from django.utils import timezone

from authsite import metrics
from authsite.compiled import CompiledBatch, CompiledQuery, CompiledUpdate
from organisations.access import applications_for, applications_from_rows, applications_query

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
)
from .refresh import insert_issued, new_refresh_token, revoke_families


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


_TOKEN_HASH = RefreshToken._meta.get_field("token_hash")

# The statements of a rotation, compiled once, which Django's path and the fast lane
# (authsite.fastlane) both run: the presented token with its owner's applications, and
# the conditional update that spends it.
PRESENTED = CompiledBatch(
    CompiledQuery(presented_token_query, token_hash=_TOKEN_HASH),
    CompiledQuery(presented_token_applications_query, token_hash=_TOKEN_HASH),
)
SPEND = CompiledUpdate(
    unspent_query,
    ("used_at",),
    token_id=RefreshToken._meta.pk,
    used_at=RefreshToken._meta.get_field("used_at"),
)


def refreshed_event(presented: Presented, meta: RequestMeta, *, grace: bool) -> AuditEvent:
    """Return the TOKEN_REFRESHED audit event of a rotation, not yet saved. Inserted with
    the successor (``insert_issued``), its details name the successor's id as "token"."""
    return audit_event(
        AuditType.TOKEN_REFRESHED,
        presented.user,
        meta,
        family=str(presented.family_id),
        token=None,
        presented=presented.token_id,
        grace=grace,
    )


def count_rotation(*, grace: bool) -> None:
    """Count a committed rotation in the metrics, and a grace retry apart."""
    metrics.count(metrics.REFRESH_ROTATIONS)
    if grace:
        metrics.count(metrics.REFRESH_GRACE_RETRIES)


def _rotate(token_hash: str, now, meta: RequestMeta, dpop_jkt: str) -> Grant | TokenError:
    row, applications = _read_presented(token_hash)
    presented = judge_presented(row, now, dpop_jkt)
    if isinstance(presented, TokenError):
        return presented
    family_id, user = presented.family_id, presented.user
    won = SPEND.run(connection, token_id=presented.token_id, used_at=now) == 1
    if won:
        successor, plaintext = new_refresh_token(family_id, now, parent_id=presented.token_id)
    else:
        used_at = (
            RefreshToken.objects.values_list("used_at", flat=True)
            .filter(pk=presented.token_id)
            .first()
        )
        if used_at is None:
            return invalid_token("The refresh token is not valid.")
        if now - used_at > timedelta(seconds=settings.REFRESH_REUSE_GRACE):
            revoke_families(TokenFamily.objects.filter(pk=family_id), "reuse", now)
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
        successor, plaintext = new_refresh_token(family_id, now)
    insert_issued(successor, refreshed_event(presented, meta, grace=not won))
    transaction.on_commit(partial(count_rotation, grace=not won))
    if applications is None:
        applications = applications_for(user)
    return grant_for(user, family_id, plaintext, applications, presented.dpop_jkt)


def _read_presented(token_hash: str) -> tuple[tuple | None, list[dict] | None]:
    """Return the ``presented_token_query`` row of a presented token (None when unknown)
    and, on PostgreSQL, read in the same statement (``PRESENTED``), its owner's
    applications; elsewhere None for them."""
    if connection.vendor != "postgresql":
        return presented_token_query(token_hash).first(), None
    values = {"token_hash": token_hash}
    rows, applications = PRESENTED.fetch(connection, values, values)
    return (rows[0] if rows else None), applications_from_rows(applications)


def spend_statement(token_id, now) -> tuple[str, list]:
    """Return (SQL, parameters) of ``SPEND`` for a token spent at ``now``, for the fast
    lane's own connection: it updates one row when this caller wins the rotation, none
    otherwise."""
    if SPEND.sql is None:
        SPEND.compile(connection)
    return SPEND.sql, SPEND.params(token_id=token_id, used_at=now)
