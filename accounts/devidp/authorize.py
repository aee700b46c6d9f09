"""The endpoints a browser is sent to: `/authorize` (PKCE with S256 only, the demo-user
chooser, single sign-on through the `devidp_sso` cookie, `prompt=none`, the multi-factor
login) and the two logout endpoints, `/oidc/logout` and Auth0's `/v2/logout`."""

import re
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from . import pages
from .web import DuplicateParameter, Request, Response, add_query, html_response, redirect

MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
SSO_COOKIE = "devidp_sso"

_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PORT = re.compile(r"[0-9]{1,5}")


def redirect_uri_allowed(uri: str, registered: Iterable[str]) -> bool:
    """Return whether `uri` matches a registered URI exactly, or a pattern
    `http://host:*/path` meaning that host and path on any port (the development
    client's loopback callbacks). A pattern never admits user info, another path, a
    query or a fragment."""
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


def logout_url_allowed(url: str, allowed: Iterable[str] | None) -> bool:
    """Return whether a client whose allowed logout URLs are ``allowed`` (None: any) may
    be sent back to ``url``; as at Auth0, its query and fragment do not count."""
    if allowed is None:
        return True
    return redirect_uri_allowed(urlsplit(url)._replace(query="", fragment="").geturl(), allowed)


def wants_mfa(params: dict[str, str]) -> bool:
    """Return whether the authorization request asks for the multi-factor policy."""
    return MFA_POLICY in params.get("acr_values", "").split()


def _forget_sso(response: Response) -> Response:
    response.headers.append(("set-cookie", f"{SSO_COOKIE}=; Path=/; Max-Age=0; HttpOnly"))
    return response


class AuthorizeMixin:
    """The Provider's browser-facing endpoints. An approved authorization leaves a code in
    `_codes` for the token endpoint and a record in `logins`; a user picked in the chooser
    leaves a single sign-on session in `sso_sessions`."""

    users: dict[str, dict[str, Any]]
    clients: dict[str, dict[str, Any]]
    code_ttl: float
    logins: list[dict[str, Any]]
    sso_sessions: dict[str, dict[str, Any]]
    _codes: dict[str, dict[str, Any]]

    async def _authorize(self, request: Request) -> Response:
        """Answer `/authorize`. GET: validate the request; with `prompt=none`, approve
        through this browser's single sign-on or redirect back with `login_required`;
        approve at once when `login_hint` names a user (by sub or email), else show the
        chooser. POST: the chooser's answer (`sub`)."""
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
        if params.get("prompt") == "none":
            login = self._sso_login(request, params)
            if login is None:
                return redirect(
                    add_query(
                        params["redirect_uri"],
                        {
                            "error": "login_required",
                            "error_description": "Login required",
                            "state": params["state"],
                        },
                    )
                )
            return self._approve(params, self.users[login["sub"]], login)
        user = self._find_user(params.get("login_hint", ""))
        if user is not None:
            login = {"sub": user["sub"], "mfa": wants_mfa(params), "auth_time": int(time.time())}
            return self._approve(params, user, login)
        login = self._sso_login(request, params)
        if login is None:
            return html_response(pages.chooser(params, self.users.values(), mfa=wants_mfa(params)))
        return self._approve(params, self.users[login["sub"]], login)

    def _sso_login(self, request: Request, params: dict[str, str]) -> dict[str, Any] | None:
        """Return the login this browser already made, unless the client asks to log in
        again, asks for a multi-factor login it did not use, or wants one newer than
        `max_age`."""
        login = self.sso_sessions.get(request.cookie(SSO_COOKIE) or "")
        if login is None or login["sub"] not in self.users or params.get("prompt") == "login":
            return None
        if wants_mfa(params) and not login["mfa"]:
            return None
        max_age = params.get("max_age", "")
        if max_age.isdigit() and time.time() - login["auth_time"] > int(max_age):
            return None
        return login

    def _authorize_problem(self, params: dict[str, str]) -> str | None:
        """Return why the authorization request is refused, checked so that nothing is
        ever sent to a redirect_uri the client did not register."""
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
        """Redirect back to the client with a code for `user`, or with `access_denied`
        when the request names an organisation the user is not part of."""
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
            "acr_asked": wants_mfa(params),
            "scope": params["scope"],
            "audience": params.get("audience"),
            "expires": time.monotonic() + self.code_ttl,
        }
        return redirect(add_query(params["redirect_uri"], {"code": code, "state": params["state"]}))

    async def _logout(self, request: Request) -> Response:
        """Answer both logout endpoints: follow `post_logout_redirect_uri` (OIDC) or
        `returnTo` (Auth0 v2) only together with a registered `client_id` that allows that
        URL, handing back OIDC's `state`."""
        try:
            params = request.query()
        except DuplicateParameter as exc:
            return html_response(pages.error(f"The parameter {exc} was given twice."), 400)
        self.sso_sessions.pop(request.cookie(SSO_COOKIE) or "", None)
        name = "post_logout_redirect_uri" if "post_logout_redirect_uri" in params else "returnTo"
        target = params.get(name)
        if not target:
            return _forget_sso(html_response(pages.logged_out()))
        if params.get("client_id") not in self.clients:
            return html_response(
                pages.error("A logout redirect needs the client_id of a registered application."),
                400,
            )
        if urlsplit(target).scheme not in ("http", "https"):
            return html_response(pages.error("The logout redirect must be an http(s) URL."), 400)
        if not logout_url_allowed(target, self.clients[params["client_id"]]["logout_urls"]):
            return html_response(
                pages.error(
                    f'The "{name}" querystring parameter "{target}" is not defined as a valid '
                    'URL in "Allowed Logout URLs".'
                ),
                400,
            )
        state = params.get("state")
        return _forget_sso(redirect(add_query(target, {"state": state}) if state else target))
