"""The provider's signing keys, and the tokens a test crafts with them: signed with the
current key, another key or a header of its choosing, unsigned (`alg: none`), signed
with HS256 over the public key, and OIDC Back-Channel Logout tokens."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

LOGOUT_TOKEN_TTL = 120
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def new_signing_key() -> RSAKey:
    """Return a fresh RSA 2048 key for RS256 with a thumbprint `kid`."""
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


def b64url(data: bytes) -> str:
    """Return `data` in base64url without padding, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def json_b64url(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated with `overrides`, where an override of None removes the key."""
    combined = {**base, **overrides}
    return {name: value for name, value in combined.items() if value is not None}


class SigningMixin:
    """The Provider's keys and crafted tokens. `keys` holds every published key, the last
    one current."""

    issuer: str
    clients: dict[str, dict[str, Any]]
    keys: list[RSAKey]

    @property
    def current_key(self) -> RSAKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in reversed(self.keys)]}

    def rotate_keys(self, keep_old: bool = True) -> RSAKey:
        """Make a new key current and return it; with `keep_old` the old public keys stay
        published."""
        key = new_signing_key()
        self.keys = [*self.keys, key] if keep_old else [key]
        return key

    def sign(
        self,
        claims: dict[str, Any],
        header: dict[str, Any] | None = None,
        key: RSAKey | None = None,
    ) -> str:
        """Return a compact JWS of `claims`, RS256 with the current key unless `key` is
        given. `header` is merged over {"alg": "RS256", "typ": "JWT", "kid": key's kid}; a
        value of None removes that header parameter."""
        key = key or self.current_key
        full_header = merged({"alg": "RS256", "typ": "JWT", "kid": key.kid}, header or {})
        return jwt.encode(
            full_header, claims, key, algorithms=[full_header["alg"]], default_type=None
        )

    def unsigned(self, claims: dict[str, Any]) -> str:
        """Return an `alg: none` token: `header.payload.` with an empty signature."""
        return f"{json_b64url({'alg': 'none', 'typ': 'JWT'})}.{json_b64url(claims)}."

    def sign_hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """Return the key-confusion attack: HS256 whose HMAC secret is the current public
        key in PEM, which a verifier that lets the token pick its algorithm would accept."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.current_key.kid}
        signing_input = f"{json_b64url(header)}.{json_b64url(claims)}"
        secret = self.current_key.as_pem(private=False)
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    def foreign_key(self) -> RSAKey:
        """Return a new RSA key that is not in the JWKS."""
        return new_signing_key()

    def logout_token(
        self,
        sub: str | None = None,
        sid: str | None = None,
        audience: str | None = None,
        *,
        header: dict[str, Any] | None = None,
        key: RSAKey | None = None,
        **overrides: Any,
    ) -> str:
        """Return a signed OIDC Back-Channel Logout token (header typ `logout+jwt`) for
        `sub` and/or `sid`, addressed to `audience` (default: the first registered
        client). `overrides` set claims, None removing one; `header` and `key` as for
        `sign`."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or next(iter(self.clients)),
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": uuid.uuid4().hex,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        claims = merged(claims, {"sub": sub, "sid": sid, **overrides})
        return self.sign(claims, {"typ": "logout+jwt", **(header or {})}, key)
