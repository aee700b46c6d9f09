"""App-issued access tokens, rotating refresh tokens, and the token-handoff login codes.

Access tokens are JWTs (header ``typ: at+jwt``, RFC 9068; ``alg`` and ``kid`` of the
signing key, accounts.keys) with ``iss`` = this server's base URL, ``aud`` =
AUTH0_AUDIENCE or the base URL, ``sub`` = user id, ``org``, ``role``, ``apps`` (codes),
``fam`` (token family), ``jti``, ``iat``, ``exp``. The platform's applications verify
them against /.well-known/jwks.json.

Refresh tokens are opaque (256 random bits), stored only as their SHA-256 hex digest,
and belong to a family (one grant). Presenting one spends it and yields a child
(rotation). Revocation is per family, and this server looks the family up on every
Bearer request: logging out, reuse detection, an admin's "revoke everything", or a
deactivated user or organisation take effect at the next request, not at expiry. We
chose this family lookup over a per-user token version because logout must end one
session's tokens and leave the user's other sessions alone, and over a ``jti``
deny-list because one row per grant is revoked with one UPDATE and never needs pruning
of a list. Applications that verify tokens offline see the change at the next refresh
(at most ACCESS_TOKEN_TTL later); the ``apps`` claim is a snapshot for them, while this
server always reads access from the database.

Every write that must be atomic is one plain function under ``transaction.atomic()``,
called once, in one thread hop, by the async code (DESIGN.md, rules of async; authsite.db).
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import FETCH_RAISE, Subquery
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError

from authsite.db import in_thread
from organisations.access import applications_for, applications_query
from organisations.models import Organisation

from . import keys
from .models import (
    AuditEvent,
    AuditType,
    HandoffCode,
    RefreshToken,
    Role,
    TokenFamily,
    User,
)
from .requestkit import is_allowed_host
from .upsert import RequestMeta

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
# Clock skew tolerated on exp and iat; PUBLISH_LEEWAY in accounts.keys covers it.
CLOCK_LEEWAY = 30
HANDOFF_CODE_TTL = 60
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_NO_META = RequestMeta()


class TokenError(Exception):
    """A refused token, code or grant: ``error`` is the API error code."""

    def __init__(self, error: str, detail: str):
        super().__init__(detail)
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Grant:
    """What an atomic unit hands back to be turned into a token pair: computed in the
    same thread hop, so minting the access token is pure computation."""

    user: object
    family_id: uuid.UUID
    refresh_token: str
    apps: list[str]


def grant_for(user, family_id, refresh_token: str, applications: list[dict]) -> Grant:
    """A grant; ``applications`` are the user's, as organisations.access shapes them."""
    apps = [application["code"] for application in applications]
    return Grant(user=user, family_id=family_id, refresh_token=refresh_token, apps=apps)


def _grant(user, family_id, refresh_token: str) -> Grant:
    return grant_for(user, family_id, refresh_token, applications_for(user))


def hash_token(value: str) -> str:
    """The SHA-256 hex digest stored for a token or code. Any string hashes (a lone
    surrogate too): a value this server never issued then matches nothing."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def account_is_active(user) -> bool:
    """The session backend's rule (accounts.backends): an active user whose organisation
    is active, or an active super admin without one. ``user.organisation`` must be
    loaded."""
    if not user.is_active:
        return False
    if user.organisation_id is None:
        return user.role == Role.SUPER_ADMIN
    return user.organisation.is_active


# The user and the organisation as whole rows: every concrete field, so nothing is
# deferred and nothing is fetched later.
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_ORGANISATION_FIELDS = [field.attname for field in Organisation._meta.concrete_fields]


def user_columns(path: str) -> list[str]:
    """The ``values_list`` names of a whole user and their organisation, reached from a
    query's model through ``path`` (``"user__"``, say); ``user_from_row`` reads them."""
    return [
        *(f"{path}{name}" for name in _USER_FIELDS),
        *(f"{path}organisation__{name}" for name in _ORGANISATION_FIELDS),
    ]


def user_from_row(row) -> User:
    """The user, with their organisation loaded, from the ``user_columns`` of a row."""
    split = len(_USER_FIELDS)
    user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row[:split], fetch_mode=FETCH_RAISE)
    if user.organisation_id is not None:
        user.organisation = Organisation.from_db(
            DEFAULT_DB_ALIAS, _ORGANISATION_FIELDS, row[split:], fetch_mode=FETCH_RAISE
        )
    return user


def audit_event(event_type, user, meta: RequestMeta, **details) -> AuditEvent:
    """An audit event, not yet saved."""
    return AuditEvent(
        type=event_type,
        user=user,
        organisation_id=user.organisation_id if user else None,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details=details,
    )


def _audit(event_type, user, meta: RequestMeta, **details) -> None:
    audit_event(event_type, user, meta, **details).save()


# --- issuer and audience --------------------------------------------------------------


def is_own_issuer(value) -> bool:
    """True for an issuer this server may have written: PUBLIC_BASE_URL when it is set;
    otherwise an ``http(s)://host[:port]`` URL without a path whose host is in
    ALLOWED_HOSTS, which is every base URL ``requestkit.base_url`` can derive from a
    request that Django accepts. Tokens are minted per request, so without
    PUBLIC_BASE_URL a token minted through one allowed host is accepted through another;
    set PUBLIC_BASE_URL in production for an exact match."""
    if not isinstance(value, str):
        return False
    if settings.PUBLIC_BASE_URL:
        return value == settings.PUBLIC_BASE_URL
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    return is_allowed_host(parts.netloc)


def audience_for(issuer: str) -> str:
    return settings.AUTH0_AUDIENCE or issuer


# --- access tokens --------------------------------------------------------------------


def mint_access_token(grant: Grant, *, issuer: str, signer: keys.Signer) -> str:
    """A signed access token for the grant's user in the grant's family."""
    now = int(timezone.now().timestamp())
    user = grant.user
    claims = {
        "iss": issuer,
        "aud": audience_for(issuer),
        "sub": str(user.pk),
        "org": user.organisation_id,
        "role": user.role,
        "apps": grant.apps,
        "fam": str(grant.family_id),
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + settings.ACCESS_TOKEN_TTL,
    }
    header = {"alg": signer.algorithm, "kid": signer.kid, "typ": ACCESS_TOKEN_TYPES[0]}
    return jwt.encode(header, claims, signer.key, algorithms=[signer.algorithm])


def _invalid(detail: str) -> TokenError:
    return TokenError("invalid_token", detail)


def _extract(token: str):
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, UnicodeError, RecursionError):
        raise _invalid("The token is not a well-formed JWT.") from None


def _payload(obj) -> dict:
    try:
        claims = json.loads(obj.payload)
    except (TypeError, ValueError, RecursionError):
        raise _invalid("The token's payload is not JSON.") from None
    if not isinstance(claims, dict):
        raise _invalid("The token's payload is not a JSON object.")
    return claims


def unverified_claims(token: str) -> dict:
    """The claims WITHOUT any verification: only to choose which verifier to run."""
    return _payload(_extract(token))


# Access tokens this process has verified, newest last: token -> (claims, kid). A
# token's signature, key, issuer, audience and claims never change, so while this
# process still holds the token's verification key (keys.averification_key) a later
# presentation only checks the clock again (exp, as joserfc checks it). Revocation is
# not here: every Bearer request still reads its family, user and organisation.
# Under WSGI each request runs in a thread of its own: the lock keeps the memory whole.
_verified: OrderedDict[str, tuple[dict, str]] = OrderedDict()
_verified_lock = threading.Lock()
VERIFIED_TOKENS_REMEMBERED = 2048


def remembered_access_claims(token: str) -> dict | None:
    """The claims of an access token this process verified before, as
    ``averify_access_token`` gives them, or None when it is not remembered (or its key
    is no longer held); TokenError("invalid_token") once it has expired."""
    with _verified_lock:
        remembered = _verified.get(token)
        if remembered is None:
            return None
        claims, kid = remembered
        if not keys.holds_verification_key(kid):
            del _verified[token]
            return None
        if claims["exp"] <= int(time.time()) - CLOCK_LEEWAY:
            del _verified[token]
            raise _invalid("The access token has expired.")
        _verified.move_to_end(token)
    return dict(claims)


async def averify_access_token(token: str) -> dict:
    """``_verify_access_token``'s answer, remembered as said above: the claims of an
    access token this server signed, or TokenError("invalid_token")."""
    claims = remembered_access_claims(token)
    if claims is not None:
        return claims
    claims, kid = await _verify_access_token(token)
    with _verified_lock:
        _verified[token] = (claims, kid)
        if len(_verified) > VERIFIED_TOKENS_REMEMBERED:
            _verified.popitem(last=False)
    return dict(claims)


def forget_verified_tokens() -> None:
    with _verified_lock:
        _verified.clear()


async def _verify_access_token(token: str) -> tuple[dict, str]:
    """(claims, kid) of an access token this server signed, or TokenError("invalid_token").

    Accepted only with: typ at+jwt; a kid naming a published key and an alg equal to
    that key's algorithm (so never ``none`` nor HS*); a valid signature; iss ours
    (is_own_issuer) and aud exactly audience_for(iss); exp not passed and iat not in
    the future, both within CLOCK_LEEWAY; sub, jti and fam (a UUID) present."""
    obj = _extract(token)
    header = obj.headers()
    if header.get("typ") not in ACCESS_TOKEN_TYPES:
        raise _invalid("The token is not an access token (typ must be at+jwt).")
    verification_key = await keys.averification_key(header.get("kid"))
    if verification_key is None:
        raise _invalid("The token was signed by an unknown key.")
    if header.get("alg") != verification_key.algorithm:
        raise _invalid("The token's algorithm does not match its key.")
    try:
        valid = jws.validate_compact(
            obj, verification_key.key, algorithms=[verification_key.algorithm]
        )
    except JoseError:
        valid = False
    if not valid:
        raise _invalid("The token's signature is not valid.")
    claims = _payload(obj)
    issuer = claims.get("iss")
    if not is_own_issuer(issuer):
        raise _invalid("The token was not issued by this server.")
    essential = {"essential": True}
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience_for(issuer)},
        sub=essential,
        exp=essential,
        iat=essential,
        jti=essential,
        fam=essential,
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise _invalid("The access token has expired.") from None
    except JoseError as exc:
        raise _invalid(f"The token's claims are not valid: {exc.description}.") from None
    try:
        uuid.UUID(str(claims["fam"]))
    except ValueError:
        raise _invalid("The token's family is not valid.") from None
    return claims, verification_key.kid


# --- refresh tokens -------------------------------------------------------------------


def new_refresh_token(family_id, now, parent_id=None) -> tuple[RefreshToken, str]:
    """A refresh token of the family, not yet saved, and its plaintext."""
    plaintext = secrets.token_urlsafe(32)
    token = RefreshToken(
        family_id=family_id,
        token_hash=hash_token(plaintext),
        parent_id=parent_id,
        expires_at=now + timedelta(seconds=settings.REFRESH_TOKEN_TTL),
    )
    return token, plaintext


def _new_refresh_token(family_id, now, parent_id=None) -> tuple[RefreshToken, str]:
    token, plaintext = new_refresh_token(family_id, now, parent_id)
    token.save(force_insert=True)
    return token, plaintext


def issue_grant(
    user, *, session_key: str = "", family_id=None, meta: RequestMeta = _NO_META
) -> Grant:
    """A new refresh token, with a TOKEN_ISSUED audit event, in one transaction.

    Without ``family_id`` a new family is made (one per grant), remembering
    ``session_key`` so that logging out of that session revokes it. With ``family_id``
    (a caller holding an app access token of that family) the token joins that family,
    so that a pair minted from an access token dies with the family it came from."""
    now = timezone.now()
    with transaction.atomic():
        if family_id is None:
            family_id = TokenFamily.objects.create(
                user=user, session_key=session_key or "", ip=meta.ip, user_agent=meta.user_agent
            ).pk
        token, plaintext = _new_refresh_token(family_id, now)
        _audit(
            AuditType.TOKEN_ISSUED, user, meta, family=str(family_id), token=token.pk, grant="api"
        )
    return _grant(user, family_id, plaintext)


def rotate_refresh_token(presented: str, *, meta: RequestMeta = _NO_META) -> Grant:
    """Spend a refresh token and hand back its successor, or raise TokenError.

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
    Unknown or revoked → ``invalid_token``; expired → ``token_expired``; deactivated
    user or organisation → ``user_inactive`` (``judge_presented``). Successes write
    TOKEN_REFRESHED in the same transaction (``refreshed_event``)."""
    now = timezone.now()
    with transaction.atomic():
        outcome = _rotate(hash_token(presented), now, meta)
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


def presented_token_query(token_hash: str):
    """A presented refresh token as one row: its id, revocation and expiry, its
    family's id and revocation, then its user and their organisation (``user_columns``).
    The one definition of the read every rotation starts with; ``accounts.fastlane``
    runs the SQL Django compiles from it."""
    return RefreshToken.objects.filter(token_hash=token_hash).values_list(
        "pk",
        "revoked_at",
        "expires_at",
        "family_id",
        "family__revoked_at",
        *user_columns("family__user__"),
    )


def presented_token_applications_query(token_hash: str):
    """``applications_query`` for the user and organisation of a presented refresh token,
    read from the token in the same statement: what the new access token's ``apps``
    claim lists. ``accounts.fastlane`` batches it with ``presented_token_query``."""
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


def judge_presented(row, now) -> Presented | TokenError:
    """The rules a token must pass before it is spent, on its ``presented_token_query``
    row (or None): unknown or revoked (itself or its family) → ``invalid_token``;
    expired → ``token_expired``; deactivated user or organisation → ``user_inactive``."""
    if row is None:
        return _invalid("The refresh token is not valid.")
    token_id, revoked_at, expires_at, family_id, family_revoked_at = row[:5]
    if revoked_at is not None or family_revoked_at is not None:
        return _invalid("The refresh token is not valid.")
    if expires_at <= now:
        return TokenError("token_expired", "The refresh token has expired; log in again.")
    user = user_from_row(row[5:])
    if not account_is_active(user):
        return TokenError("user_inactive", "This account or its organisation is deactivated.")
    return Presented(token_id=token_id, family_id=family_id, user=user)


def unspent_query(token_id):
    """The token, while it is neither spent nor revoked: spending it is ``.update(used_at=
    now)`` on this, and the one caller that updates a row has won the rotation."""
    return RefreshToken.objects.filter(pk=token_id, used_at__isnull=True, revoked_at__isnull=True)


def refreshed_event(presented: Presented, successor_id, meta: RequestMeta, *, grace: bool):
    """The TOKEN_REFRESHED audit event of a rotation, not yet saved."""
    return audit_event(
        AuditType.TOKEN_REFRESHED,
        presented.user,
        meta,
        family=str(presented.family_id),
        token=successor_id,
        presented=presented.token_id,
        grace=grace,
    )


def _rotate(token_hash: str, now, meta: RequestMeta) -> Grant | TokenError:
    presented = judge_presented(presented_token_query(token_hash).first(), now)
    if isinstance(presented, TokenError):
        return presented
    family_id, user = presented.family_id, presented.user
    won = unspent_query(presented.token_id).update(used_at=now)
    if won:
        successor, plaintext = _new_refresh_token(family_id, now, parent_id=presented.token_id)
    else:
        used_at = (
            RefreshToken.objects.values_list("used_at", flat=True)
            .filter(pk=presented.token_id)
            .first()
        )
        if used_at is None:
            return _invalid("The refresh token is not valid.")
        if now - used_at > timedelta(seconds=settings.REFRESH_REUSE_GRACE):
            _revoke_families(TokenFamily.objects.filter(pk=family_id), "reuse", now)
            _audit(
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
        successor, plaintext = _new_refresh_token(family_id, now)
    refreshed_event(presented, successor.pk, meta, grace=not won).save()
    return _grant(user, family_id, plaintext)


def _revoke_families(queryset, reason: str, now) -> int:
    return queryset.filter(revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason[:50]
    )


def revoke_refresh_token(presented: str, *, meta: RequestMeta = _NO_META) -> bool:
    """Revoke the family of a refresh token (RFC 7009: the caller's answer is the same
    whether the token was known or not). True when a live family was revoked."""
    now = timezone.now()
    with transaction.atomic():
        token = (
            RefreshToken.objects.select_related("family__user")
            .filter(token_hash=hash_token(presented))
            .first()
        )
        if token is None:
            return False
        revoked = _revoke_families(TokenFamily.objects.filter(pk=token.family_id), "revoked", now)
        if revoked:
            _audit(
                AuditType.TOKEN_REVOKED,
                token.family.user,
                meta,
                family=str(token.family_id),
                reason="revoked",
            )
    return bool(revoked)


def revoke_family(family_id, reason: str) -> int:
    """Revoke one family (logout of a Bearer caller). Returns 1, or 0 when it was
    already revoked or unknown."""
    return _revoke_families(TokenFamily.objects.filter(pk=family_id), reason, timezone.now())


arevoke_family = in_thread(revoke_family)


def revoke_session_families(session_key: str, reason: str) -> int:
    """Revoke every family born from a Django session (logout, back-channel logout).
    An empty session key revokes nothing. Returns the number revoked."""
    if not session_key:
        return 0
    return _revoke_families(
        TokenFamily.objects.filter(session_key=session_key), reason, timezone.now()
    )


arevoke_session_families = in_thread(revoke_session_families)


def revoke_user_families(user, reason: str) -> int:
    """Revoke every family of a user (the admin's "revoke every session and token").
    The caller records the audit event. Returns the number revoked."""
    return _revoke_families(TokenFamily.objects.filter(user_id=user.pk), reason, timezone.now())


arevoke_user_families = in_thread(revoke_user_families)


# --- token pairs ----------------------------------------------------------------------


def pair(grant: Grant, *, issuer: str, signer: keys.Signer) -> dict:
    """The API body for a grant: ``{"access_token", "token_type", "expires_in",
    "refresh_token"}``."""
    return {
        "access_token": mint_access_token(grant, issuer=issuer, signer=signer),
        "token_type": "Bearer",
        "expires_in": settings.ACCESS_TOKEN_TTL,
        "refresh_token": grant.refresh_token,
    }


aissue_grant = in_thread(issue_grant)


async def aissue_token_pair(
    user, *, issuer: str, session_key: str = "", meta: RequestMeta = _NO_META
) -> dict:
    """A new family and its first pair for ``user`` (``issuer`` from
    ``requestkit.base_url(request)``); the API body dict. Raises
    keys.SigningKeyUnavailable before writing anything when no key can sign."""
    signer = await keys.asigner()
    grant = await aissue_grant(user, session_key=session_key, meta=meta)
    return pair(grant, issuer=issuer, signer=signer)


# --- token handoff --------------------------------------------------------------------


def is_valid_challenge(challenge) -> bool:
    """An S256 challenge: 43 base64url characters (SHA-256, unpadded)."""
    return isinstance(challenge, str) and bool(_CHALLENGE_RE.match(challenge))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def create_handoff_code(user, challenge: str, session_key: str = "") -> str:
    """A one-time login code for ``user`` bound to the web app's S256 ``challenge``,
    valid HANDOFF_CODE_TTL seconds; returns the plaintext (only its hash is stored).
    Runs inside the caller's transaction when there is one. ValueError for a malformed
    challenge."""
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


def redeem_handoff_code(code: str, verifier, *, meta: RequestMeta = _NO_META) -> Grant:
    """Exchange a login code and its verifier for a new family (with the code's session
    key) and its first refresh token, or raise TokenError("invalid_grant").

    The code is burnt by a conditional ``UPDATE … WHERE used_at IS NULL`` BEFORE the
    expiry and verifier are checked, so a wrong verifier spends it too: whoever
    intercepted a code gets one guess, and the web app restarts its login. Every
    refusal writes HANDOFF_REFUSED with a reason (unknown, replay, expired,
    wrong_verifier, user_inactive)."""
    now = timezone.now()
    with transaction.atomic():
        outcome = _redeem(hash_token(code), verifier, now, meta)
    if isinstance(outcome, TokenError):
        raise outcome
    return outcome


def _redeem(code_hash: str, verifier, now, meta: RequestMeta) -> Grant | TokenError:
    row = (
        HandoffCode.objects.select_related("user__organisation").filter(code_hash=code_hash).first()
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
        _audit(AuditType.HANDOFF_REFUSED, user, meta, reason=reason)
        return TokenError("invalid_grant", "The login code is not valid; log in again.")
    family = TokenFamily.objects.create(
        user=user, session_key=row.session_key, ip=meta.ip, user_agent=meta.user_agent
    )
    token, plaintext = _new_refresh_token(family.pk, now)
    _audit(
        AuditType.TOKEN_ISSUED, user, meta, family=str(family.pk), token=token.pk, grant="handoff"
    )
    return _grant(user, family.pk, plaintext)


def refresh_token_owner(presented: str):
    """The id of the user a refresh token belongs to, or None: for per-user rate limits,
    counted before the token is spent."""
    return (
        RefreshToken.objects.filter(token_hash=hash_token(presented))
        .values_list("family__user_id", flat=True)
        .first()
    )
