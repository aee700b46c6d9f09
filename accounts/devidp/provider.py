"""A local OpenID Connect provider that behaves like Auth0 where our backend can tell the
difference: issuer ending in `/`, discovery, JWKS, `/authorize` with PKCE (S256 only),
`/oauth/token` with client_secret_basic or client_secret_post, `/userinfo`,
`/oidc/logout` and `/v2/logout`, `org_id`/`org_name` claims, a JWT access token when
an `audience` is asked for, and a multi-factor login (`amr: ["mfa"]`, and `acr` when the
multi-factor policy is asked for in `acr_values`) with `max_age` honoured.

It is the test suite's identity provider (served over real HTTP in a thread of the test
process, so tests flip its faults, keys and hooks directly) and the development identity
provider of `make run`. Everything lives in memory. It is a raw ASGI application with no
Django in it, so `python -m accounts.devidp` runs without settings.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from . import pages
from .web import (
    BodyTooLarge,
    DuplicateParameter,
    Request,
    Response,
    add_query,
    html_response,
    json_response,
    read_request,
    redirect,
)

ENDPOINTS = ("discovery", "jwks", "token", "userinfo")
FAULT_MODES = ("500", "timeout", "garbage", "slow")
# Longer than any client timeout; the hang still ends early when the client disconnects,
# the fault is healed or the held requests are released.
HANG_SECONDS = 30.0
ID_TOKEN_TTL = 3600
ACCESS_TOKEN_TTL = 86400
LOGOUT_TOKEN_TTL = 120
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
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_PORT = re.compile(r"[0-9]{1,5}")

IdTokenHook = Callable[[dict[str, Any], dict[str, Any]], str | dict[str, Any] | None]


def new_signing_key() -> RSAKey:
    """A fresh RSA 2048 key for RS256 with a thumbprint `kid`."""
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


def redirect_uri_allowed(uri: str, registered: Iterable[str]) -> bool:
    """Exact match with a registered URI, or with a pattern `http://host:*/path` meaning
    that host and path on any port (the development client's loopback callbacks). A
    pattern never admits user info, another path, a query or a fragment."""
    got = urlsplit(uri)
    host, _, port = got.netloc.rpartition(":")
    for pattern in registered:
        if uri == pattern:
            return True
        want = urlsplit(pattern)
        if want.netloc.endswith(":*") and (
            got.scheme == want.scheme
            and host == want.netloc[:-2]
            and _PORT.fullmatch(port)
            and got.path == want.path
            and not got.query
            and not got.fragment
        ):
            return True
    return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data, separators=(",", ":")).encode())


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` updated with `overrides`, where an override of None removes the key."""
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not None}


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not _CODE_VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(_b64(hashlib.sha256(verifier.encode()).digest()), challenge)


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(client_id, secret) from an HTTP Basic header, form-urlencoded inside as RFC 6749
    section 2.3.1 asks; None without Basic, empty strings when it cannot be decoded."""
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
    """The standard claims `scope` grants, as Auth0 filters them."""
    scopes = scope.split()
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims |= {"name": user["name"], "picture": user["picture"]}
    if "email" in scopes and user["email"]:
        claims |= {"email": user["email"], "email_verified": user["email_verified"]}
    return {name: value for name, value in claims.items() if value is not None}


def _wants_mfa(params: dict[str, str]) -> bool:
    return MFA_POLICY in params.get("acr_values", "").split()


def _authentication(grant: dict[str, Any]) -> dict[str, Any]:
    """The ID token's `amr` and `acr` for a login: Auth0 names a multi-factor login in
    `amr`, and answers `acr` only when `acr_values` asked for the policy."""
    if not grant["mfa"]:
        return {}
    return {"amr": ["mfa"], **({"acr": MFA_POLICY} if grant["acr_asked"] else {})}


def _organisation(user: dict[str, Any]) -> dict[str, Any]:
    if not user.get("org_id"):
        return {}
    return _merged({"org_id": user["org_id"]}, {"org_name": user.get("org_name")})


def _oauth_error(
    error: str, description: str, status: int = 400, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return json_response({"error": error, "error_description": description}, status, headers)


SSO_COOKIE = "devidp_sso"


def _forget_sso(response: Response) -> Response:
    response.headers.append(("set-cookie", f"{SSO_COOKIE}=; Path=/; Max-Age=0; HttpOnly"))
    return response


class _Refusal(Exception):
    """Ends a request early with a ready answer."""

    def __init__(self, response: Response) -> None:
        self.response = response


class Provider:
    """The identity provider's state and its ASGI application (the instance is callable).

    Public state, read and changed directly by tests (the server runs in another thread of
    the same process):

    - `issuer`: base URL ending in `/`; `serve_in_thread` sets it once it has a port.
    - `users`: {sub: profile dict}; `clients`: {client_id: {"secret", "redirect_uris"}}.
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
        counters, codes, tokens, logins, and every key but the first."""
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

    # --- registration ----------------------------------------------------------------

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
        """Register (or replace) a user; `name` defaults to the email or sub, `picture`
        to a Gravatar URL as Auth0 gives."""
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

    def add_client(self, client_id: str, secret: str, redirect_uris: Iterable[str]) -> None:
        """Register a confidential client; see `redirect_uri_allowed` for the URI forms."""
        self.clients[client_id] = {"secret": secret, "redirect_uris": list(redirect_uris)}

    # --- keys and crafted tokens -----------------------------------------------------

    @property
    def current_key(self) -> RSAKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in reversed(self.keys)]}

    def rotate_keys(self, keep_old: bool = True) -> RSAKey:
        """Make a new key current; with `keep_old` the old public keys stay published."""
        key = new_signing_key()
        self.keys = [*self.keys, key] if keep_old else [key]
        return key

    def sign(
        self,
        claims: dict[str, Any],
        header: dict[str, Any] | None = None,
        key: RSAKey | None = None,
    ) -> str:
        """A compact JWS of `claims`, RS256 with the current key unless `key` is given.
        `header` is merged over {"alg": "RS256", "typ": "JWT", "kid": key's kid}; a value
        of None removes that header parameter."""
        key = key or self.current_key
        full_header = _merged({"alg": "RS256", "typ": "JWT", "kid": key.kid}, header or {})
        return jwt.encode(
            full_header, claims, key, algorithms=[full_header["alg"]], default_type=None
        )

    def unsigned(self, claims: dict[str, Any]) -> str:
        """An `alg: none` token: `header.payload.` with an empty signature."""
        return f"{_json_b64({'alg': 'none', 'typ': 'JWT'})}.{_json_b64(claims)}."

    def sign_hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """The key-confusion attack: HS256 whose HMAC secret is the current public key in
        PEM, which a verifier that lets the token pick its algorithm would accept."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.current_key.kid}
        signing_input = f"{_json_b64(header)}.{_json_b64(claims)}"
        secret = self.current_key.as_pem(private=False)
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def foreign_key(self) -> RSAKey:
        """A new RSA key that is not in the JWKS."""
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
        """A signed OIDC Back-Channel Logout token (header typ `logout+jwt`) for `sub`
        and/or `sid`, addressed to `audience` (default: the first registered client).
        `overrides` set claims, None removing one; `header` and `key` as for `sign`."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or next(iter(self.clients)),
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": uuid.uuid4().hex,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        claims = _merged(claims, {"sub": sub, "sid": sid, **overrides})
        return self.sign(claims, {"typ": "logout+jwt", **(header or {})}, key)

    # --- faults ----------------------------------------------------------------------

    def fail(self, endpoint: str, mode: str) -> None:
        """Make `endpoint` (one of ENDPOINTS) misbehave: "500" answers HTTP 500, "timeout"
        holds the request open (up to HANG_SECONDS, then 504), "garbage" answers 200 with
        a body that is not JSON, "slow" waits `token_delay` seconds and then answers."""
        if endpoint not in ENDPOINTS or mode not in FAULT_MODES:
            raise ValueError(f"unknown fault {endpoint!r} {mode!r}")
        self.faults[endpoint] = mode

    def heal(self, endpoint: str | None = None) -> None:
        """Clear the fault of `endpoint`, or of every endpoint."""
        if endpoint is None:
            self.faults.clear()
        else:
            self.faults.pop(endpoint, None)

    async def _gate(self, endpoint: str, request: Request) -> None:
        """Apply the configured delay and fault of `endpoint` before it answers."""
        mode = self.faults.get(endpoint)
        if endpoint == "token" or mode == "slow":
            await asyncio.sleep(self.token_delay)
        if mode == "500":
            raise _Refusal(_oauth_error("server_error", "injected fault", 500))
        if mode == "garbage":
            raise _Refusal(Response(200, b"<html>upstream hiccup</html>", "application/json"))
        if mode == "timeout":
            await self._hang(endpoint, request)
            raise _Refusal(_oauth_error("temporarily_unavailable", "injected timeout", 504))

    def release_held_requests(self) -> None:
        """Answer (504) every request a "timeout" fault holds open, now; a server calls
        this before it stops so that it need not wait for them."""
        self._releases += 1

    async def _hang(self, endpoint: str, request: Request) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANG_SECONDS
        releases = self._releases
        # The only message still to come is the client's disconnect.
        disconnect = asyncio.ensure_future(request.receive())
        try:
            while (
                self.faults.get(endpoint) == "timeout"
                and self._releases == releases
                and loop.time() < deadline
            ):
                done, _ = await asyncio.wait({disconnect}, timeout=0.05)
                if done:
                    return
        finally:
            disconnect.cancel()

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            request = await read_request(scope, receive)
        except BodyTooLarge:
            await _oauth_error("invalid_request", "request body too large", 413).send(send)
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
            except _Refusal as refusal:
                response = refusal.response
        await response.send(send)

    # --- endpoints -------------------------------------------------------------------

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

    async def _authorize(self, request: Request) -> Response:
        """GET: validate the request; approve at once when `login_hint` names a user (by
        sub or email), else show the chooser. POST: the chooser's answer (`sub`)."""
        try:
            params = request.params()
        except DuplicateParameter as exc:
            return html_response(pages.error(f"The parameter {exc} was given twice."), 400)
        chosen = params.pop("sub", None) if request.method == "POST" else None
        chose_mfa = params.pop("mfa", None) == "on" if request.method == "POST" else False
        problem = self._authorize_problem(params)
        if problem:
            return html_response(pages.error(problem), 400)
        if request.method == "POST":
            user = self.users.get(chosen or "")
            if user is None:
                return html_response(pages.error("Choose one of the listed users."), 400)
            session = secrets.token_urlsafe(24)
            login = {"sub": user["sub"], "mfa": chose_mfa, "auth_time": int(time.time())}
            self.sso_sessions[session] = login
            response = self._approve(params, user, login)
            response.headers.append(
                ("set-cookie", f"{SSO_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax")
            )
            return response
        user = self._find_user(params.get("login_hint", ""))
        if user is not None:
            login = {"sub": user["sub"], "mfa": _wants_mfa(params), "auth_time": int(time.time())}
            return self._approve(params, user, login)
        login = self._sso_login(request, params)
        if login is None:
            return html_response(pages.chooser(params, self.users.values(), mfa=_wants_mfa(params)))
        return self._approve(params, self.users[login["sub"]], login)

    def _sso_login(self, request: Request, params: dict[str, str]) -> dict[str, Any] | None:
        """The login this browser already made, unless the client asks to log in again,
        asks for a multi-factor login it did not use, or wants one newer than `max_age`."""
        login = self.sso_sessions.get(request.cookie(SSO_COOKIE) or "")
        if login is None or login["sub"] not in self.users or params.get("prompt") == "login":
            return None
        if _wants_mfa(params) and not login["mfa"]:
            return None
        max_age = params.get("max_age", "")
        if max_age.isdigit() and time.time() - login["auth_time"] > int(max_age):
            return None
        return login

    def _authorize_problem(self, params: dict[str, str]) -> str | None:
        """Why the authorization request is refused, checked so that nothing is ever
        sent to a redirect_uri the client did not register."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return "Unknown client_id."
        if not redirect_uri_allowed(params.get("redirect_uri", ""), client["redirect_uris"]):
            return "The redirect_uri is not registered for this client."
        if params.get("response_type") != "code":
            return "Only response_type=code is supported."
        if params.get("code_challenge_method") != "S256" or not _CODE_CHALLENGE.fullmatch(
            params.get("code_challenge", "")
        ):
            return "PKCE is required: a code_challenge with code_challenge_method=S256."
        if "openid" not in params.get("scope", "").split():
            return "The scope must include openid."
        if not params.get("state"):
            return "The state parameter is required."
        return None

    def _find_user(self, hint: str) -> dict[str, Any] | None:
        if hint in self.users:
            return self.users[hint]
        return next(
            (u for u in self.users.values() if hint and (u["email"] or "").lower() == hint.lower()),
            None,
        )

    def _approve(
        self, params: dict[str, str], user: dict[str, Any], sso: dict[str, Any]
    ) -> Response:
        organization = params.get("organization")
        if organization and organization != user.get("org_id"):
            return redirect(
                add_query(
                    params["redirect_uri"],
                    {
                        "error": "access_denied",
                        "error_description": (
                            f"user {user['sub']} is not part of the {organization} organization"
                        ),
                        "state": params["state"],
                    },
                )
            )
        login = {
            "sub": user["sub"],
            "sid": secrets.token_urlsafe(16),
            "client_id": params["client_id"],
            "auth_time": sso["auth_time"],
            "mfa": sso["mfa"],
        }
        self.logins.append(login)
        code = secrets.token_urlsafe(32)
        self._codes[code] = {
            **login,
            "redirect_uri": params["redirect_uri"],
            "code_challenge": params["code_challenge"],
            "nonce": params.get("nonce"),
            "acr_asked": _wants_mfa(params),
            "scope": params["scope"],
            "audience": params.get("audience"),
            "expires": time.monotonic() + self.code_ttl,
        }
        return redirect(add_query(params["redirect_uri"], {"code": code, "state": params["state"]}))

    async def _token(self, request: Request) -> Response:
        await self._gate("token", request)
        try:
            form = request.form()
        except DuplicateParameter as exc:
            return _oauth_error("invalid_request", f"{exc} was given twice")
        client_id = self._authenticate_client(request, form)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code is supported")
        # Popped before any check: a code is spent by its first presentation, right or wrong.
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires"] < time.monotonic() or grant["client_id"] != client_id:
            return _oauth_error("invalid_grant", "Invalid authorization code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error("invalid_grant", "redirect_uri does not match the authorization")
        if not _pkce_matches(form.get("code_verifier", ""), grant["code_challenge"]):
            return _oauth_error("invalid_grant", "Failed to verify code verifier")
        user = self.users.get(grant["sub"])
        if user is None:
            return _oauth_error("invalid_grant", "the user no longer exists")
        return json_response(self._issue(grant, user), headers=[("pragma", "no-cache")])

    def _authenticate_client(self, request: Request, form: dict[str, str]) -> str:
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            if "client_secret" in form:
                raise _Refusal(_oauth_error("invalid_request", "use one client authentication"))
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise _Refusal(_oauth_error("invalid_request", "client_id does not match"))
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret.encode(), client["secret"].encode()):
            challenge = [("www-authenticate", 'Basic realm="devidp"')] if basic else []
            raise _Refusal(_oauth_error("invalid_client", "Unauthorized", 401, challenge))
        return client_id

    def _issue(self, grant: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        client_id, scope = grant["client_id"], grant["scope"]
        claims = _merged(
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
            return _oauth_error(
                "invalid_token", "Unauthorized", 401, [("www-authenticate", "Bearer")]
            )
        return json_response({"sub": user["sub"], **_profile(user, grant["scope"])})

    async def _logout(self, request: Request) -> Response:
        """Both logout endpoints: `post_logout_redirect_uri` (OIDC) or `returnTo` (Auth0
        v2) is followed only together with a registered `client_id`; OIDC's `state` is
        handed back."""
        try:
            params = request.query()
        except DuplicateParameter as exc:
            return html_response(pages.error(f"The parameter {exc} was given twice."), 400)
        self.sso_sessions.pop(request.cookie(SSO_COOKIE) or "", None)
        target = params.get("post_logout_redirect_uri") or params.get("returnTo")
        if not target:
            return _forget_sso(html_response(pages.logged_out()))
        if params.get("client_id") not in self.clients:
            return html_response(
                pages.error("A logout redirect needs the client_id of a registered application."),
                400,
            )
        if urlsplit(target).scheme not in ("http", "https"):
            return html_response(pages.error("The logout redirect must be an http(s) URL."), 400)
        state = params.get("state")
        return _forget_sso(redirect(add_query(target, {"state": state}) if state else target))
