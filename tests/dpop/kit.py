"""Making DPoP proofs as a client would, and forging them as an attacker would."""

import base64
import json
import secrets
import time
import warnings

from asgiref.sync import async_to_sync
from joserfc import jwk, jws
from joserfc.errors import SecurityWarning

from accounts import keys
from accounts.models import AuditEvent, RefreshToken, TokenFamily
from accounts.tokens.access import pair, unverified_claims
from accounts.tokens.base import hash_token
from accounts.tokens.dpop import access_token_hash
from accounts.tokens.refresh import issue_grant
from tests.asgi_client import sync_client_class

BASE = "http://testserver"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A compact JWS made by hand: whatever header, claims and signature bytes."""
    return ".".join(
        (b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature))
    )


class Key:
    """A client's DPoP key pair: ES256 on P-256 by default, as a browser's WebCrypto
    key; ``Key("Ed25519")`` for EdDSA."""

    def __init__(self, kind: str = "ES256"):
        self.alg = kind if kind != "Ed25519" else "EdDSA"
        if kind == "Ed25519":
            self.private = jwk.OKPKey.generate_key("Ed25519")
        else:
            self.private = jwk.ECKey.generate_key({"ES256": "P-256", "ES384": "P-384"}[kind])
        self.public = self.private.as_dict(private=False)
        self.jkt = self.private.thumbprint()

    def claims(self, method, path, *, access_token=None, nonce=None, **overrides) -> dict:
        claims = {
            "htm": method,
            "htu": path if "://" in path else BASE + path,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(16),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def header(self, **overrides) -> dict:
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public, **overrides}
        return {name: value for name, value in header.items() if value is not None}

    def sign(self, header: dict, claims: dict) -> str:
        registry = jws.JWSRegistry(algorithms=[header["alg"]], strict_check_header=False)
        with warnings.catch_warnings():
            # joserfc's note that RFC 9864 deprecates the name EdDSA, which clients use.
            warnings.simplefilter("ignore", SecurityWarning)
            return jws.serialize_compact(
                header, json.dumps(claims), self.private, registry=registry
            )

    def proof(self, method, path, *, access_token=None, nonce=None, header=None, **claims):
        """A proof for ``method`` ``path`` (on http://testserver unless a full URL);
        ``header`` and ``claims`` override (None removes) what a client would send."""
        return self.sign(
            self.header(**(header or {})),
            self.claims(method, path, access_token=access_token, nonce=nonce, **claims),
        )


# --- requests and what they leave behind ------------------------------------------------

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def issue(user, key=None) -> dict:
    """A new family of ``user`` and its first pair (the body of /token), bound to
    ``key`` when given."""
    grant = issue_grant(user, dpop_jkt=key.jkt if key else "")
    return pair(grant, issuer=BASE, signer=async_to_sync(keys.asigner)())


def post(client, path, body=None, *, proof=None, **extra):
    """POST a JSON body, with ``proof`` in the DPoP header when given."""
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return client.post(
        path,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        **extra,
    )


def redeem(code, verifier, proof=None):
    """Redeem a login code as a cross-site web app does: no cookies, no CSRF token."""
    client = sync_client_class()(enforce_csrf_checks=True)
    body = {"login_code": code, "handoff_verifier": verifier}
    return post(client, TOKEN, body, proof=proof, **FRONTEND_HEADERS)


def written():
    """What a request can write: (refresh tokens, spent ones, audit events, revoked
    families, families)."""
    return (
        RefreshToken.objects.count(),
        RefreshToken.objects.filter(used_at__isnull=False).count(),
        AuditEvent.objects.count(),
        TokenFamily.objects.filter(revoked_at__isnull=False).count(),
        TokenFamily.objects.count(),
    )


def family_of(refresh_token: str):
    return RefreshToken.objects.get(token_hash=hash_token(refresh_token)).family


def claims_of(access_token: str) -> dict:
    return unverified_claims(access_token)


def assert_dpop_refusal(response, error="invalid_dpop_proof"):
    assert response.status_code == 401, response.content
    assert response.json()["error"] == error
    assert response["WWW-Authenticate"].startswith(f'DPoP error="{error}", algs="ES256')


FRONTEND_HEADERS = {"HTTP_ORIGIN": "http://localhost:5173"}
