"""Verification of the provider's JWTs: ID tokens and access tokens.

The profile is strict: signature by a published key with an algorithm from the
allow-list (never `none`, never HMAC: a public key is not a secret), `iss` exactly as
discovery states it, `aud`, `azp` when there are several audiences, `exp`, and an
`iat` that is neither in the future nor older than a login may last.
"""

import json
import time

from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from ... import app_settings
from .errors import InvalidToken
from .metadata import discovery, key_set_for

LEEWAY = 60
# An ID token is minted at the end of the login; one older than the longest a login may
# take is a replay of an old token, not a fresh login.
MAX_ID_TOKEN_AGE = 600


def _unverified(token: str) -> jws.CompactSignature:
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, TypeError, UnicodeError, RecursionError) as exc:
        raise InvalidToken(
            f"the token is not a well-formed JWT ({exc.__class__.__name__})"
        ) from None


def _header(token: str) -> dict:
    header = _unverified(token).protected
    if not isinstance(header, dict):
        raise InvalidToken("the token's header is not a JSON object")
    return header


def unverified_claims(token: str) -> dict:
    """Return the claims WITHOUT verification (empty when unreadable): only to decide
    which verifier to use."""
    try:
        claims = json.loads(_unverified(token).payload)
    except (InvalidToken, ValueError, TypeError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


async def _verify_signature(token: str, metadata: dict) -> jwt.Token:
    header = _header(token)
    algorithms = app_settings.id_token_algorithms()
    if header.get("alg") not in algorithms:
        raise InvalidToken(f"the token's algorithm {header.get('alg')!r} is not allowed")
    kid = header.get("kid")
    key_set = await key_set_for(kid, metadata)
    if kid is None:
        candidates = [key for key in key_set.keys if key.get("use", "sig") == "sig"]
        if len(candidates) != 1:
            raise InvalidToken("the token names no key (kid) and the provider publishes several")
        key = candidates[0]
    else:
        key = key_set
    try:
        return jwt.decode(token, key, registry=JWSRegistry(algorithms=algorithms))
    except JoseError as exc:
        raise InvalidToken(f"the token's signature does not verify ({exc.error})") from None
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"the token could not be decoded ({exc.__class__.__name__})") from None


async def verify_id_token(
    id_token: str, *, nonce: str, access_token: str | None = None, now: int | None = None
) -> dict:
    """Verify an ID token from the code flow and return its claims; raise InvalidToken
    when it fails a check."""
    if not isinstance(id_token, str) or not id_token:
        raise InvalidToken("the provider returned no ID token")
    metadata = await discovery()
    token = await _verify_signature(id_token, metadata)
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "sub": {"essential": True},
            "aud": {"essential": True, "value": app_settings.client_id()},
            "nonce": {"essential": True, "value": nonce},
        },
        params={
            "nonce": nonce,
            "client_id": app_settings.client_id(),
            "access_token": access_token,
        },
    )
    now = now or int(time.time())
    try:
        claims.validate(now=now, leeway=LEEWAY)
    except JoseError as exc:
        raise InvalidToken(f"the ID token was refused: {exc.description or exc.error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != app_settings.client_id():
        raise InvalidToken("the ID token has several audiences and its azp is not this client")
    if claims["iat"] < now - MAX_ID_TOKEN_AGE - LEEWAY:
        raise InvalidToken("the ID token was issued too long ago")
    return dict(claims)


async def verify_access_token(access_token: str, *, audience: str, now: int | None = None) -> dict:
    """Verify a provider-issued JWT access token for our API (``audience``) and return
    its claims; raise InvalidToken when it fails a check."""
    metadata = await discovery()
    token = await _verify_signature(access_token, metadata)
    options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "sub": {"essential": True},
        "aud": {"essential": True, "value": audience},
        "exp": {"essential": True},
    }
    try:
        jwt.JWTClaimsRegistry(now=now, leeway=LEEWAY, **options).validate(token.claims)
    except JoseError as exc:
        raise InvalidToken(
            f"the access token was refused: {exc.description or exc.error}", code="invalid_token"
        ) from None
    return dict(token.claims)


BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A logout token is sent the moment the provider's session ends; an old one is a replay.
MAX_LOGOUT_TOKEN_AGE = 300


async def verify_logout_token(logout_token: str, *, now: int | None = None) -> dict:
    """Verify an OIDC Back-Channel Logout 1.0 logout token and return its claims.

    Checks: signature (as for ID tokens), header `typ` logout+jwt, `iss` exactly the
    issuer, `aud` contains this client, `iat` present and fresh, `exp` when present, the
    back-channel `events` member, `sub` or `sid` present, no `nonce`, a `jti`. Replay of
    the `jti` is the caller's business (it needs the shared cache)."""
    if not isinstance(logout_token, str) or not logout_token:
        raise InvalidToken("no logout token", code="invalid_request")
    metadata = await discovery()
    token = await _verify_signature(logout_token, metadata)
    if str(token.header.get("typ", "")).lower() not in ("logout+jwt", "application/logout+jwt"):
        raise InvalidToken("the logout token's typ is not logout+jwt", code="invalid_request")
    now = now or int(time.time())
    options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": app_settings.client_id()},
        "iat": {"essential": True},
        "jti": {"essential": True},
    }
    try:
        jwt.JWTClaimsRegistry(now=now, leeway=LEEWAY, **options).validate(token.claims)
    except JoseError as exc:
        raise InvalidToken(
            f"the logout token was refused: {exc.description or exc.error}",
            code="invalid_request",
        ) from None
    claims = token.claims
    if claims["iat"] < now - MAX_LOGOUT_TOKEN_AGE - LEEWAY:
        raise InvalidToken("the logout token is too old", code="invalid_request")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise InvalidToken("the logout token has no back-channel logout event", "invalid_request")
    if "nonce" in claims:
        raise InvalidToken("a logout token must not carry a nonce", code="invalid_request")
    if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
        raise InvalidToken("the logout token names neither sub nor sid", code="invalid_request")
    return dict(claims)
