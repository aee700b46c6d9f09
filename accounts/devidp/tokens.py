"""The endpoints a client calls server to server: `/oauth/token` (authorization codes with
PKCE, and client credentials for an API the provider knows; client_secret_basic or
client_secret_post) and `/userinfo`. The ID token carries Auth0's `org_id`/`org_name`
claims and, after a multi-factor login, `amr` (and `acr` when asked for); an `audience`
gets a JWT access token. Refusals read as Auth0's."""

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from .authorize import MFA_POLICY
from .signing import b64url, merged
from .web import DuplicateParameter, Refusal, Request, Response, json_response, oauth_error

ID_TOKEN_TTL = 3600
ACCESS_TOKEN_TTL = 86400

_CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")

IdTokenHook = Callable[[dict[str, Any], dict[str, Any]], str | dict[str, Any] | None]


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not _CODE_VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(b64url(hashlib.sha256(verifier.encode()).digest()), challenge)


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    """Return (client_id, secret) from an HTTP Basic header, form-urlencoded inside as
    RFC 6749 section 2.3.1 asks; None without Basic, empty strings when it cannot be
    decoded."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


def _profile(user: dict[str, Any], scope: str) -> dict[str, Any]:
    """Return the standard claims `scope` grants, as Auth0 filters them."""
    scopes = scope.split()
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims |= {"name": user["name"], "picture": user["picture"]}
    if "email" in scopes and user["email"]:
        claims |= {"email": user["email"], "email_verified": user["email_verified"]}
    return {name: value for name, value in claims.items() if value is not None}


def _authentication(grant: dict[str, Any]) -> dict[str, Any]:
    """Return the ID token's `amr` and `acr` for a login: Auth0 names a multi-factor
    login in `amr`, and answers `acr` only when `acr_values` asked for the policy."""
    if not grant["mfa"]:
        return {}
    return {"amr": ["mfa"], **({"acr": MFA_POLICY} if grant["acr_asked"] else {})}


def _organisation(user: dict[str, Any]) -> dict[str, Any]:
    if not user.get("org_id"):
        return {}
    return merged({"org_id": user["org_id"]}, {"org_name": user.get("org_name")})


class TokensMixin:
    """The Provider's server-to-server endpoints, used with SigningMixin (`sign`) and
    FaultsMixin (`_gate`). A code from `_codes` is spent by its first presentation; the
    access tokens it buys are remembered in `_access_tokens` for `/userinfo`."""

    issuer: str
    users: dict[str, dict[str, Any]]
    clients: dict[str, dict[str, Any]]
    apis: dict[str, set[str]]
    id_token_hook: IdTokenHook | None
    _codes: dict[str, dict[str, Any]]
    _access_tokens: dict[str, dict[str, Any]]

    async def _token(self, request: Request) -> Response:
        await self._gate("token", request)
        try:
            form = request.form()
        except DuplicateParameter as exc:
            return oauth_error("invalid_request", f"{exc} was given twice")
        client_id = self._authenticate_client(request, form)
        grant_type = form.get("grant_type", "")
        if grant_type not in ("authorization_code", "client_credentials"):
            return oauth_error(
                "unsupported_grant_type",
                "only authorization_code and client_credentials are supported",
            )
        if grant_type not in self.clients[client_id]["grant_types"]:
            return oauth_error(
                "unauthorized_client", f"Grant type '{grant_type}' not allowed for the client.", 403
            )
        if grant_type == "client_credentials":
            return self._client_credentials(client_id, form.get("audience", ""))
        # Popped before any check: a code is spent by its first presentation, right or wrong.
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires"] < time.monotonic() or grant["client_id"] != client_id:
            return oauth_error("invalid_grant", "Invalid authorization code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return oauth_error("invalid_grant", "redirect_uri does not match the authorization")
        if not _pkce_matches(form.get("code_verifier", ""), grant["code_challenge"]):
            return oauth_error("invalid_grant", "Failed to verify code verifier")
        user = self.users.get(grant["sub"])
        if user is None:
            return oauth_error("invalid_grant", "the user no longer exists")
        return json_response(self._issue(grant, user), headers=[("pragma", "no-cache")])

    def _client_credentials(self, client_id: str, audience: str) -> Response:
        """Answer a client credentials grant for `audience`: a JWT access token when the
        API is known and grants the client, else Auth0's `access_denied` saying which."""
        if not audience:
            return oauth_error(
                "access_denied",
                "No audience parameter was provided, and no Default Audience has been configured",
                403,
            )
        if audience not in self.apis:
            return oauth_error("access_denied", f"Service not found: {audience}", 403)
        if client_id not in self.apis[audience]:
            return oauth_error(
                "access_denied",
                f'Client is not authorized to access "{audience}". You need to create a '
                '"client-grant" associated to this API.',
                403,
            )
        now = int(time.time())
        token = self.sign(
            {
                "iss": self.issuer,
                "sub": f"{client_id}@clients",
                "aud": audience,
                "azp": client_id,
                "gty": "client-credentials",
                "iat": now,
                "exp": now + ACCESS_TOKEN_TTL,
            }
        )
        return json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL},
            headers=[("pragma", "no-cache")],
        )

    def _authenticate_client(self, request: Request, form: dict[str, str]) -> str:
        """Return the client_id the request authenticates as, or refuse it."""
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            if "client_secret" in form:
                raise Refusal(oauth_error("invalid_request", "use one client authentication"))
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise Refusal(oauth_error("invalid_request", "client_id does not match"))
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret.encode(), client["secret"].encode()):
            challenge = [("www-authenticate", 'Basic realm="devidp"')] if basic else []
            raise Refusal(oauth_error("invalid_client", "Unauthorized", 401, challenge))
        return client_id

    def _issue(self, grant: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        """Return the token endpoint's answer for a valid `grant` of `user`."""
        now = int(time.time())
        client_id, scope = grant["client_id"], grant["scope"]
        claims = merged(
            {
                "iss": self.issuer,
                "sub": user["sub"],
                "aud": client_id,
                "azp": client_id,
                "iat": now,
                "exp": now + ID_TOKEN_TTL,
                "auth_time": grant["auth_time"],
                "nonce": grant["nonce"],
                "sid": grant["sid"],
                **_authentication(grant),
                **_profile(user, scope),
            },
            _organisation(user),
        )
        if grant["audience"]:
            access_token = self.sign(
                {
                    "iss": self.issuer,
                    "sub": user["sub"],
                    "aud": [grant["audience"], f"{self.issuer}userinfo"],
                    "azp": client_id,
                    "scope": scope,
                    "iat": now,
                    "exp": now + ACCESS_TOKEN_TTL,
                    **({"org_id": user["org_id"]} if user.get("org_id") else {}),
                }
            )
        else:
            access_token = secrets.token_urlsafe(32)
        self._access_tokens[access_token] = {
            "sub": user["sub"],
            "scope": scope,
            "expires": time.time() + ACCESS_TOKEN_TTL,
        }
        return {
            "access_token": access_token,
            "id_token": self._id_token(claims),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": scope,
        }

    def _id_token(self, claims: dict[str, Any]) -> str:
        """Sign `claims` as the ID token, unless `id_token_hook` changes or replaces it."""
        header = {"alg": "RS256", "typ": "JWT", "kid": self.current_key.kid}
        if self.id_token_hook is not None:
            replaced = self.id_token_hook(claims, header)
            if isinstance(replaced, str):
                return replaced
            if isinstance(replaced, dict):
                claims = replaced
        return self.sign(claims, header)

    async def _userinfo(self, request: Request) -> Response:
        await self._gate("userinfo", request)
        grant = self._access_tokens.get(request.bearer_token() or "")
        user = self.users.get(grant["sub"]) if grant else None
        if grant is None or user is None or grant["expires"] < time.time():
            return oauth_error(
                "invalid_token", "Unauthorized", 401, [("www-authenticate", "Bearer")]
            )
        return json_response({"sub": user["sub"], **_profile(user, grant["scope"])})
