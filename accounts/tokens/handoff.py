"""The token handoff's one-time login codes, bound to the web app's S256 challenge."""

import base64
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import FETCH_RAISE
from django.utils import timezone

from ..models import AuditType, HandoffCode
from ..upsert import RequestMeta
from .base import NO_META, Grant, TokenError, account_is_active, audit, hash_token
from .refresh import issue_grant

HANDOFF_CODE_TTL = 60


_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def is_valid_challenge(challenge) -> bool:
    """Return whether ``challenge`` is an S256 challenge: 43 base64url characters
    (SHA-256, unpadded)."""
    return isinstance(challenge, str) and bool(_CHALLENGE_RE.match(challenge))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def create_handoff_code(user, challenge: str, session_key: str = "") -> str:
    """Create a one-time login code for ``user`` bound to the web app's S256
    ``challenge``, valid HANDOFF_CODE_TTL seconds; return the plaintext (only its hash is
    stored). Run inside the caller's transaction when there is one. Raise ValueError for
    a malformed challenge."""
    if not is_valid_challenge(challenge):
        raise ValueError("handoff challenge must be 43 base64url characters (S256).")
    code = secrets.token_urlsafe(32)
    HandoffCode.objects.create(
        code_hash=hash_token(code),
        challenge=challenge,
        user=user,
        session_key=session_key or "",
        expires_at=timezone.now() + timedelta(seconds=HANDOFF_CODE_TTL),
    )
    return code


def redeem_handoff_code(
    code: str, verifier, *, meta: RequestMeta = NO_META, dpop_jkt: str = ""
) -> Grant:
    """Exchange a login code and its verifier for a new family (with the code's session
    key, bound to the DPoP key ``dpop_jkt`` when not empty) and its first refresh token,
    or raise TokenError("invalid_grant").

    The code is burnt by a conditional ``UPDATE … WHERE used_at IS NULL`` BEFORE the
    expiry and verifier are checked, so a wrong verifier spends it too. Every refusal
    writes HANDOFF_REFUSED with a reason (unknown, replay, expired, wrong_verifier,
    user_inactive)."""
    now = timezone.now()
    with transaction.atomic():
        outcome = _redeem(hash_token(code), verifier, now, meta, dpop_jkt)
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


def _redeem(code_hash: str, verifier, now, meta: RequestMeta, dpop_jkt: str) -> Grant | TokenError:
    row = (
        HandoffCode.objects.select_related("user__organisation")
        .fetch_mode(FETCH_RAISE)
        .filter(code_hash=code_hash)
        .first()
    )
    user = row.user if row else None
    reason = None
    if row is None:
        reason = "unknown"
    elif not HandoffCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
        reason = "replay"
    elif row.expires_at <= now:
        reason = "expired"
    elif not isinstance(verifier, str) or not hmac.compare_digest(
        s256(verifier).encode(), row.challenge.encode()
    ):
        reason = "wrong_verifier"
    elif not account_is_active(user):
        reason = "user_inactive"
    if reason is not None:
        audit(AuditType.HANDOFF_REFUSED, user, meta, reason=reason)
        return TokenError("invalid_grant", "The login code is not valid; log in again.")
    return issue_grant(
        user, session_key=row.session_key, meta=meta, dpop_jkt=dpop_jkt, grant="handoff"
    )
