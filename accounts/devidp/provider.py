"""A local OpenID Connect provider that behaves like Auth0 where our backend can tell the
difference: issuer ending in `/`, discovery, JWKS, `/authorize` with PKCE (S256 only) and
`prompt=none`, `/oauth/token` with client_secret_basic or client_secret_post (the
authorization code, and client credentials for the APIs it knows), `/userinfo`,
`/oidc/logout` and `/v2/logout` (with a client's allowed logout URLs), `org_id`/`org_name`
claims, a JWT access token when an `audience` is asked for, and a multi-factor login
(`amr: ["mfa"]`, and `acr` when the multi-factor policy is asked for in `acr_values`) with
`max_age` honoured. Unlike Auth0, an authorization request's `audience` is not checked
against the APIs it knows.

It is the test suite's identity provider (served over real HTTP in a thread of the test
process, so tests flip its faults, keys and hooks directly) and the development identity
provider of `make run`. Everything lives in memory. It is a raw ASGI application with no
Django in it, so `python -m accounts.devidp` runs without settings.

This module holds the state, the registration of users and clients, the routing and the
metadata endpoints; the rest comes from its mixins: keys and crafted tokens (signing.py),
faults (faults.py), the browser's endpoints (authorize.py) and the client's (tokens.py).
"""

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from joserfc.jwk import RSAKey

from .authorize import MFA_POLICY, AuthorizeMixin
from .faults import FaultsMixin
from .signing import SigningMixin, new_signing_key
from .tokens import IdTokenHook, TokensMixin
from .web import BodyTooLarge, Refusal, Request, Response, json_response, oauth_error, read_request

CLAIMS_SUPPORTED = [
    "acr",
    "amr",
    "aud",
    "auth_time",
    "email",
    "email_verified",
    "exp",
    "iat",
    "iss",
    "name",
    "nonce",
    "org_id",
    "org_name",
    "picture",
    "sid",
    "sub",
]


class Provider(SigningMixin, FaultsMixin, AuthorizeMixin, TokensMixin):
    """The identity provider's state and its ASGI application (the instance is callable).

    Public state, read and changed directly by tests (the server runs in another thread of
    the same process):

    - `issuer`: base URL ending in `/`; `serve_in_thread` sets it once it has a port.
    - `users`: {sub: profile dict}; `clients`: {client_id: {"secret", "redirect_uris",
      "logout_urls", "grant_types"}}, see `add_client`.
    - `apis`: {identifier: client ids}: the APIs (Auth0's resource servers) it knows, each
      with the clients that may get a token for it by client credentials; see `add_api`.
    - `keys`: signing keys, the last one current; all of them are published in the JWKS.
    - `faults`: {endpoint: mode}, see `fail`; `token_delay`: seconds added to every
      token-endpoint answer (and the delay of a "slow" fault anywhere).
    - `code_ttl`: seconds an authorization code stays valid (60).
    - `id_token_hook`: None, or `(claims, header) -> str | dict | None` called when the
      token endpoint mints an ID token; it may change `claims` and `header` in place,
      return new claims (signed normally) or return a string sent verbatim as id_token.
    - `requests`: Counter of (method, path) for every request received.
    - `logins`: one dict per approved authorization (sub, sid, client_id, auth_time, mfa),
      so a test can find the `sid` the relying party was given.
    - `sso_sessions`: {cookie value: {"sub", "mfa", "auth_time"}}. Like Auth0, a person who
      picked a user in this browser is not asked again (the `devidp_sso` cookie) until
      they log out here, a request says `prompt=login`, asks for the multi-factor policy
      the session did not use, or gives a `max_age` the session is older than;
      `login_hint` always wins (and completes the multi-factor step when asked for).
    """

    def __init__(self, issuer: str = "") -> None:
        self.issuer = issuer
        self.users: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.apis: dict[str, set[str]] = {}
        self._first_key = new_signing_key()
        self._releases = 0
        self.reset()
        self._routes = {
            "/.well-known/openid-configuration": {"GET": self._discovery},
            "/.well-known/jwks.json": {"GET": self._jwks},
            "/authorize": {"GET": self._authorize, "POST": self._authorize},
            "/oauth/token": {"POST": self._token},
            "/userinfo": {"GET": self._userinfo, "POST": self._userinfo},
            "/oidc/logout": {"GET": self._logout},
            "/v2/logout": {"GET": self._logout},
        }

    def reset(self) -> None:
        """Forget what tests changed, except users and clients: faults, delays, the hook,
        counters, codes, tokens, logins, APIs, and every key but the first."""
        self.apis.clear()
        self.keys: list[RSAKey] = [self._first_key]
        self.faults: dict[str, str] = {}
        self.token_delay = 0.0
        self.code_ttl = 60.0
        self.id_token_hook: IdTokenHook | None = None
        self.requests: Counter[tuple[str, str]] = Counter()
        self.logins: list[dict[str, Any]] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self.sso_sessions: dict[str, dict[str, Any]] = {}

    def add_user(
        self,
        sub: str,
        email: str | None = None,
        email_verified: bool = True,
        name: str | None = None,
        org_id: str | None = None,
        org_name: str | None = None,
        picture: str | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a user and return it; `name` defaults to the email or
        sub, `picture` to a Gravatar URL as Auth0 gives."""
        if picture is None and email:
            digest = hashlib.sha256(email.lower().encode()).hexdigest()
            picture = f"https://gravatar.com/avatar/{digest}"
        user = {
            "sub": sub,
            "email": email,
            "email_verified": email_verified,
            "name": name or email or sub,
            "picture": picture,
            "org_id": org_id,
            "org_name": org_name,
        }
        self.users[sub] = user
        return user

    def add_client(
        self,
        client_id: str,
        secret: str,
        redirect_uris: Iterable[str],
        logout_urls: Iterable[str] | None = None,
    ) -> None:
        """Register a confidential client allowed both the authorization code and client
        credentials grants (a test may narrow its "grant_types"). See
        `redirect_uri_allowed` for the URI forms, and `logout_url_allowed` for
        `logout_urls` (None: any http(s) URL)."""
        self.clients[client_id] = {
            "secret": secret,
            "redirect_uris": list(redirect_uris),
            "logout_urls": None if logout_urls is None else list(logout_urls),
            "grant_types": ["authorization_code", "client_credentials"],
        }

    def add_api(self, identifier: str, clients: Iterable[str] = ()) -> None:
        """Register an API by its identifier (the `audience`), and the clients that may
        get a token for it by client credentials."""
        self.apis[identifier] = set(clients)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            request = await read_request(scope, receive)
        except BodyTooLarge:
            await oauth_error("invalid_request", "request body too large", 413).send(send)
            return
        self.requests[request.method, request.path] += 1
        methods = self._routes.get(request.path)
        if methods is None:
            response = json_response({"error": "not_found"}, 404)
        elif request.method not in methods:
            response = json_response(
                {"error": "method_not_allowed"}, 405, [("allow", ", ".join(methods))]
            )
        else:
            try:
                response = await methods[request.method](request)
            except Refusal as refusal:
                response = refusal.response
        await response.send(send)

    async def _discovery(self, request: Request) -> Response:
        await self._gate("discovery", request)
        issuer = self.issuer
        return json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}authorize",
                "token_endpoint": f"{issuer}oauth/token",
                "jwks_uri": f"{issuer}.well-known/jwks.json",
                "userinfo_endpoint": f"{issuer}userinfo",
                "end_session_endpoint": f"{issuer}oidc/logout",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
                "acr_values_supported": [MFA_POLICY],
                "scopes_supported": ["openid", "profile", "email"],
                "claims_supported": CLAIMS_SUPPORTED,
                "backchannel_logout_supported": True,
                "backchannel_logout_session_supported": True,
            }
        )

    async def _jwks(self, request: Request) -> Response:
        await self._gate("jwks", request)
        return json_response(self.jwks())
