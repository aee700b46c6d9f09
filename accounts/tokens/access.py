"""App access tokens: minted for a grant, verified on every Bearer request, and
remembered by the process that verified them."""

import json
import threading
import time
import uuid
from collections import OrderedDict

from django.conf import settings
from django.utils import timezone
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError

from .. import keys, logcontext
from .base import Grant, audience_for, invalid_token, is_own_issuer

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


# Clock skew tolerated on exp and iat; PUBLISH_LEEWAY in accounts.keys covers it.
CLOCK_LEEWAY = 30


def mint_access_token(grant: Grant, *, issuer: str, signer: keys.Signer) -> str:
    """Return a signed access token for the grant's user in the grant's family; bound to
    the family's DPoP key (``cnf.jkt``, RFC 9449 §6) when it has one."""
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
        "jti": grant.jti,
        "iat": now,
        "exp": now + settings.ACCESS_TOKEN_TTL,
    }
    if grant.dpop_jkt:
        claims["cnf"] = {"jkt": grant.dpop_jkt}
    header = {"alg": signer.algorithm, "kid": signer.kid, "typ": ACCESS_TOKEN_TYPES[0]}
    return jwt.encode(header, claims, signer.key, algorithms=[signer.algorithm])


def _extract(token: str):
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, UnicodeError, RecursionError):
        raise invalid_token("The token is not a well-formed JWT.") from None


def _payload(obj) -> dict:
    try:
        claims = json.loads(obj.payload)
    except (TypeError, ValueError, RecursionError):
        raise invalid_token("The token's payload is not JSON.") from None
    if not isinstance(claims, dict):
        raise invalid_token("The token's payload is not a JSON object.")
    return claims


def unverified_claims(token: str) -> dict:
    """Return the claims WITHOUT any verification: only to choose which verifier to run."""
    return _payload(_extract(token))


# Access tokens this process has verified, newest last: token -> (claims, kid). While
# the process holds the token's key, a later presentation only checks exp again; the
# lock is for WSGI, where each request runs in a thread of its own.
_verified: OrderedDict[str, tuple[dict, str]] = OrderedDict()


_verified_lock = threading.Lock()


VERIFIED_TOKENS_REMEMBERED = 2048


def remembered_access_claims(token: str) -> dict | None:
    """Return the claims of an access token this process verified before, as
    ``averify_access_token`` gives them, or None when it is not remembered (or its key
    is no longer held); raise TokenError("invalid_token") once it has expired."""
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
            raise invalid_token("The access token has expired.")
        _verified.move_to_end(token)
    return dict(claims)


async def averify_access_token(token: str) -> dict:
    """Return the claims of an access token this server signed (``_verify_access_token``),
    remembering them for its later presentations; raise TokenError("invalid_token")."""
    claims = remembered_access_claims(token)
    if claims is not None:
        return claims
    claims, kid = await _verify_access_token(token)
    with _verified_lock:
        _verified[token] = (claims, kid)
        if len(_verified) > VERIFIED_TOKENS_REMEMBERED:
            _verified.popitem(last=False)
    return dict(claims)


async def _verify_access_token(token: str) -> tuple[dict, str]:
    """Return (claims, kid) of an access token this server signed, or raise
    TokenError("invalid_token").

    Accepted only with: typ at+jwt; a kid naming a published key and an alg equal to
    that key's algorithm (so never ``none`` nor HS*); a valid signature; iss ours
    (is_own_issuer) and aud exactly audience_for(iss); exp not passed and iat not in
    the future, both within CLOCK_LEEWAY; sub, jti and fam (a UUID) present."""
    obj = _extract(token)
    header = obj.headers()
    if header.get("typ") not in ACCESS_TOKEN_TYPES:
        raise invalid_token("The token is not an access token (typ must be at+jwt).")
    verification_key = await keys.averification_key(header.get("kid"))
    if verification_key is None:
        raise invalid_token("The token was signed by an unknown key.")
    if header.get("alg") != verification_key.algorithm:
        raise invalid_token("The token's algorithm does not match its key.")
    try:
        valid = jws.validate_compact(
            obj, verification_key.key, algorithms=[verification_key.algorithm]
        )
    except JoseError:
        valid = False
    if not valid:
        raise invalid_token("The token's signature is not valid.")
    claims = _payload(obj)
    issuer = claims.get("iss")
    if not is_own_issuer(issuer):
        raise invalid_token("The token was not issued by this server.")
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
        raise invalid_token("The access token has expired.") from None
    except JoseError as exc:
        raise invalid_token(f"The token's claims are not valid: {exc.description}.") from None
    try:
        uuid.UUID(str(claims["fam"]))
    except ValueError:
        raise invalid_token("The token's family is not valid.") from None
    return claims, verification_key.kid


def bound_key(claims: dict) -> str:
    """Return the DPoP key thumbprint verified access-token ``claims`` are bound to
    (``cnf.jkt``), or "" for an unbound token."""
    confirmation = claims.get("cnf")
    return confirmation.get("jkt", "") if isinstance(confirmation, dict) else ""


def pair(grant: Grant, *, issuer: str, signer: keys.Signer) -> dict:
    """Return the API body for a grant: ``{"access_token", "token_type", "expires_in",
    "refresh_token"}``, the type "DPoP" for a family bound to a DPoP key, else "Bearer".
    The grant's user is the request's, in the log, from now on."""
    logcontext.note_user(grant.user)
    return {
        "access_token": mint_access_token(grant, issuer=issuer, signer=signer),
        "token_type": "DPoP" if grant.dpop_jkt else "Bearer",
        "expires_in": settings.ACCESS_TOKEN_TTL,
        "refresh_token": grant.refresh_token,
    }
