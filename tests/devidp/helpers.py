"""A relying party's side of the provider's protocol, spelled out step by step."""

import base64
import hashlib
import secrets
from dataclasses import dataclass

import httpx2
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from tests.idp import CLIENT_ID, CLIENT_SECRET

CALLBACK = "http://testserver/auth/callback"


@dataclass
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> "Pkce":
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_params(pkce: Pkce, **overrides) -> dict:
    """A valid authorization request; an override of None leaves that parameter out."""
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


def redirect_params(response: httpx2.Response) -> dict:
    assert response.status_code == 302, response.text
    return dict(httpx2.URL(response.headers["location"]).params)


def login(http: httpx2.Client, pkce: Pkce, login_hint: str, **overrides) -> str:
    """/authorize with a login hint; returns the code the provider redirected with."""
    response = http.get(
        "authorize", params=authorize_params(pkce, login_hint=login_hint, **overrides)
    )
    params = redirect_params(response)
    assert params["state"] == "state-123"
    return params["code"]


def exchange(http: httpx2.Client, code: str, verifier: str, **overrides) -> httpx2.Response:
    """POST /oauth/token with client_secret_post; an override of None leaves that field out."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    return http.post("oauth/token", data={k: v for k, v in form.items() if v is not None})


def verify(http: httpx2.Client, token: str) -> dict:
    """The claims of `token` once its RS256 signature checks out against the JWKS."""
    keys = KeySet.import_key_set(http.get(".well-known/jwks.json").json())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


def header(token: str) -> dict:
    """The protected header of a compact JWS, unverified."""
    return extract_compact(token.encode()).protected
