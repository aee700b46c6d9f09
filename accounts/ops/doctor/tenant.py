"""The application's registration at the tenant, as far as it shows from outside with the
client's own id and secret and the tenant's public endpoints: the callback URL (accepted
by `/authorize`), the logout return URL (accepted by the logout endpoint), back-channel
logout (advertised by discovery) and the API of AUTH0_AUDIENCE (known to the token
endpoint). What only the Management API could read is not checked."""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from django.conf import settings

from ... import app_settings
from ...login.oidc import end_session_url
from ...login.oidc.http import oauth_client, timeout
from .base import (
    ASSUMED_BASE_URL,
    FAIL,
    OK,
    WARN,
    Check,
    audience_problem,
    skipped,
    url_problem,
)
from .local import callback_url

BACKCHANNEL_PATH = "/auth/backchannel-logout"

CALLBACK_HINT = (
    "add {uri} exactly to the application's Allowed Callback URLs (Applications → your "
    "application → Settings)"
)

UNSET_HINT = "set PUBLIC_BASE_URL to this server's external https URL in production"

BY_HAND_HINT = "compare AUTH0_AUDIENCE with the API's Identifier (Applications → APIs) by hand"


@dataclass(frozen=True)
class TenantReport:
    callback: Check
    logout: Check
    backchannel: Check
    audience: Check


@dataclass(frozen=True)
class Answer:
    """How the provider answered a browser's request that should end at ``target``:
    ``kind`` is "back" (redirected there), "refused" (4xx, or redirected elsewhere with an
    OAuth error), "page" (any other answer a browser would show) or "failed" (5xx)."""

    kind: str
    status: int
    said: str = ""

    def detail(self) -> str:
        return f"HTTP {self.status}: {self.said}" if self.said else f"HTTP {self.status}"


async def probe_tenant(document: dict | None, why_not: str, credentials: Check) -> TenantReport:
    """Return the tenant's lines, from the fresh discovery ``document`` (None when there
    is none, ``why_not`` saying why) and the client credentials' verdict."""
    return TenantReport(
        callback=await check_callback(document, why_not),
        logout=await check_logout(document, why_not),
        backchannel=check_backchannel(document, why_not),
        audience=await check_audience(document, why_not, credentials),
    )


def judge_answer(response: httpx2.Response, target: str) -> Answer:
    """Classify ``response`` to a request whose success sends the browser to ``target``
    (compared by scheme, host and path; the query may carry an error or a state)."""
    status = response.status_code
    if status >= 500:
        return Answer("failed", status)
    location = response.headers.get("location")
    if 300 <= status < 400 and location:
        went = urlsplit(urljoin(str(response.url), location))
        query = parse_qs(went.query)
        said = ": ".join(
            value[0] for value in (query.get("error"), query.get("error_description")) if value
        )
        want = urlsplit(target)
        if (went.scheme, went.netloc.lower(), went.path) == (
            want.scheme,
            want.netloc.lower(),
            want.path or "/",
        ):
            return Answer("back", status, said)
        return Answer("refused" if "error" in query else "page", status, said)
    if 400 <= status < 500:
        return Answer("refused", status, _oauth_error(response))
    return Answer("page", status)


def _oauth_error(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    return ": ".join(str(body[key]) for key in ("error", "error_description") if body.get(key))


async def _visit(url: str) -> httpx2.Response:
    """GET ``url`` as a browser without cookies would, following no redirect, through no
    proxy of the environment (as the login's own calls)."""
    transport = httpx2.AsyncHTTPTransport(retries=1)
    async with httpx2.AsyncClient(transport=transport, timeout=timeout()) as client:
        return await client.get(url)


def _provider_failed(name: str, found: str) -> Check:
    return Check(FAIL, name, found, "the provider failed; try again and check its status page")


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _unreachable(url: str, exc: httpx2.HTTPError) -> tuple[str, str]:
    """Return what to say (found, hint) of a provider endpoint that did not answer."""
    return (
        f"{urlsplit(url)._replace(query='').geturl()} did not answer ({exc.__class__.__name__})",
        f"check that this server reaches the provider (AUTH0_HTTP_TIMEOUT is "
        f"{app_settings.http_timeout():g} s)",
    )


async def check_callback(document: dict | None, why_not: str) -> Check:
    """Check the redirect URI this server sends: https (or loopback http), and accepted by
    the provider's `/authorize`. Asked with `prompt=none`, a provider sends the browser
    back to a registered redirect URI at once (with `login_required`, as no one is logged
    in), and never to one it does not know. Without PUBLIC_BASE_URL the URI is only
    assumed, so nothing about it is more than a warning."""
    name, uri = "callback url", callback_url()
    base = settings.PUBLIC_BASE_URL
    problem = base and url_problem(base, "PUBLIC_BASE_URL")
    if problem:
        return Check(
            FAIL,
            name,
            f"{uri}: {problem[0]}",
            problem[1] + "; Auth0 refuses http callbacks except on localhost",
        )
    prefix = (
        f"{uri}: "
        if base
        else f"PUBLIC_BASE_URL is not set, so redirect_uri follows each request's host; "
        f"assuming {uri}: "
    )
    if document is None or not app_settings.client_id():
        reason = why_not if document is None else "AUTH0_CLIENT_ID is not set"
        if base:
            return skipped(name, f"{uri}: not checked at the provider ({reason})")
        return Check(WARN, name, f"{prefix}not checked at the provider ({reason})", UNSET_HINT)
    endpoint = document["authorization_endpoint"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    request = {
        "response_type": "code",
        "client_id": app_settings.client_id(),
        "redirect_uri": uri,
        "scope": app_settings.scope(),
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "prompt": "none",
    }
    try:
        answer = judge_answer(await _visit(_with_query(endpoint, request)), uri)
    except httpx2.HTTPError as exc:
        found, hint = _unreachable(endpoint, exc)
        return Check(FAIL, name, prefix + found, hint)
    if answer.kind == "back":
        said = f" (it answered {answer.said})" if answer.said else ""
        found = f"accepted: {endpoint} sends the browser back to it{said}"
        return Check(OK if base else WARN, name, prefix + found, "" if base else UNSET_HINT)
    if answer.kind == "refused":
        found = f"refused: {endpoint} answered {answer.detail()}, not a redirect to it"
        if base:
            return Check(FAIL, name, prefix + found, CALLBACK_HINT.format(uri=uri))
        hint = f"{UNSET_HINT}; if this server is reached at {uri}, {CALLBACK_HINT.format(uri=uri)}"
        return Check(WARN, name, prefix + found, hint)
    if answer.kind == "failed":
        return _provider_failed(name, f"{prefix}{endpoint} answered {answer.detail()}")
    return Check(
        WARN,
        name,
        f"{prefix}{endpoint} answered {answer.detail()} instead of a redirect, although "
        "prompt=none asks for one, so whether it accepts this URL cannot be told",
        'log in once in a browser: Auth0 shows "Callback URL mismatch" for a URL missing '
        "from Allowed Callback URLs",
    )


async def check_logout(document: dict | None, why_not: str) -> Check:
    """Check that the provider's logout, visited as the web app sends people there after
    `POST /auth/logout` (without a session at the provider, so nobody is logged out),
    sends the browser back to LOGIN_REDIRECT_URL."""
    name, return_to = "logout url", settings.LOGIN_REDIRECT_URL
    if urlsplit(return_to).scheme not in ("http", "https"):
        return Check(
            WARN,
            name,
            f"LOGIN_REDIRECT_URL {return_to!r} is not an absolute URL, so the provider cannot "
            "send people back after logout",
            "set LOGIN_REDIRECT_URL, or FRONTEND_ORIGINS (its first origin + / is the default)",
        )
    if document is None or not app_settings.client_id():
        return skipped(name, why_not if document is None else "AUTH0_CLIENT_ID is not set")
    url = end_session_url(document, return_to)
    endpoint = urlsplit(url)._replace(query="").geturl()
    if not document.get("end_session_endpoint"):
        endpoint += " (discovery names no end_session_endpoint)"
    try:
        answer = judge_answer(await _visit(url), return_to)
    except httpx2.HTTPError as exc:
        return Check(FAIL, name, *_unreachable(url, exc))
    if answer.kind == "back":
        return Check(OK, name, f"{endpoint} sends the browser back to {return_to}")
    if answer.kind == "refused":
        return Check(
            FAIL,
            name,
            f"{endpoint} refused to send the browser back to {return_to} ({answer.detail()})",
            f"add {return_to} to the application's Allowed Logout URLs",
        )
    if answer.kind == "failed":
        return _provider_failed(name, f"{endpoint} answered {answer.detail()}")
    return Check(
        WARN,
        name,
        f"{endpoint} answered {answer.detail()} instead of a redirect, so whether it sends "
        f"people back to {return_to} cannot be told",
        f"log out once from the web app and see that it comes back to {return_to}",
    )


def check_backchannel(document: dict | None, why_not: str) -> Check:
    """Check that discovery advertises back-channel logout, and name the URI to register
    (which only the Management API could read back)."""
    name = "back-channel logout"
    if document is None:
        return skipped(name, why_not)
    uri = (settings.PUBLIC_BASE_URL or ASSUMED_BASE_URL) + BACKCHANNEL_PATH
    if document.get("backchannel_logout_supported") is not True:
        return Check(
            WARN,
            name,
            "discovery does not advertise backchannel_logout_supported: a logout at the "
            "provider or in another application does not end this server's sessions and "
            "token families",
            "they end at logout here, or when they expire; there is nothing to register",
        )
    scope = (
        "by session (sid)"
        if document.get("backchannel_logout_session_supported") is True
        else "by person only (no sid: a logout ends every session of that person here)"
    )
    return Check(
        OK,
        name,
        f"the provider supports it, {scope}: register {uri} as the application's "
        "Back-Channel Logout URI (whether it is registered cannot be seen from outside)",
    )


async def check_audience(document: dict | None, why_not: str, credentials: Check) -> Check:
    """Check AUTH0_AUDIENCE, when set, at the token endpoint: a client credentials request
    for it is answered with a token or "not authorized" when the tenant has that API,
    and "Service not found" when it has none. Without that answer, judge its form."""
    name, audience = "audience", app_settings.audience()
    if not audience:
        return Check(
            OK,
            name,
            "AUTH0_AUDIENCE not set: no audience is asked for, Auth0 "
            "access tokens are not accepted as Bearer tokens",
        )
    form = audience_problem(audience)
    if document is None or credentials.verdict != OK:
        if form:
            return Check(WARN, name, *form)
        reason = why_not if document is None else "see client credentials"
        return skipped(name, f"{audience!r}: not checked at the provider ({reason})")
    endpoint = document["token_endpoint"]
    try:
        await oauth_client().fetch_token(
            endpoint, grant_type="client_credentials", audience=audience
        )
    except OAuthError as exc:
        return judge_audience_error(audience, exc.error, exc.description)
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        return _provider_failed(name, f"{audience!r}: the token endpoint answered HTTP {status}")
    except httpx2.HTTPError as exc:
        found, hint = _unreachable(endpoint, exc)
        return Check(FAIL, name, f"{audience!r}: {found}", hint)
    except (ValueError, TypeError) as exc:
        return Check(
            WARN, name, f"{audience!r}: not checked: the token endpoint answered nonsense ({exc})"
        )
    return Check(
        OK,
        name,
        f"{audience!r}: the provider has this API (it issued this application a "
        "client-credentials token for it, which the doctor discarded)",
    )


def judge_audience_error(audience: str, error: str, description: str | None) -> Check:
    """Return what the token endpoint's refusal of a client credentials request for
    ``audience`` says about the tenant's APIs, read as Auth0 words it."""
    said = f"{error}: {description}" if description else error
    description = description or ""
    if error == "access_denied" and description.startswith("Service not found"):
        form = audience_problem(audience)
        return Check(
            FAIL,
            "audience",
            f"{audience!r}: the provider has no API with this identifier ({said})",
            form[1]
            if form
            else "create the API (Applications → APIs) or copy its Identifier exactly into "
            "AUTH0_AUDIENCE",
        )
    if error == "access_denied" and "not authorized to access" in description:
        return Check(
            OK,
            "audience",
            f"{audience!r}: the provider has this API (it refused this application a "
            "client-credentials token for it, which logins do not need)",
        )
    return Check(
        WARN,
        "audience",
        f"{audience!r}: not checked: the token endpoint answered {said} to a client "
        "credentials request for it",
        BY_HAND_HINT,
    )
