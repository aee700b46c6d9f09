"""GET /auth/login: start an authorization-code flow with PKCE.

Each login gets its own `state`, `nonce` and PKCE verifier, kept server-side in the
shared cache under its `state` for 10 minutes and bound to this browser by the hash of
a random value in the `auth_flow` cookie; several logins may be in flight in one
browser at once. The callback consumes the entry exactly once.
"""

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from authsite import metrics
from authsite.db import acache

from ..redirects import default_landing, safe_next
from ..requestkit import base_url
from . import oidc
from . import step_up as step_up_flow

FLOW_TTL = 600
BINDING_COOKIE = "auth_flow"
BINDING_COOKIE_PATH = "/auth/"
_BINDING_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LoginRequestInvalid(Exception):
    """The login request itself is malformed (not an identity-provider failure)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class LoginStart:
    authorize_url: str
    binding: str  # the value the `auth_flow` cookie must carry


def flow_key(state: str) -> str:
    return "login-flow:" + hashlib.sha256(state.encode()).hexdigest()


def binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def callback_url(request) -> str:
    return base_url(request) + "/auth/callback"


async def begin_login(
    request,
    *,
    next_param: str | None,
    organization: str | None,
    invitation: str | None,
    mode: str | None,
    handoff_challenge: str | None,
    step_up: str | None,
) -> LoginStart:
    """Start a login: keep its flow entry in the shared cache and return the provider's
    authorization URL with the browser's binding; raise LoginRequestInvalid for a
    malformed request."""
    mode = mode or "cookie"
    if step_up not in (None, "", step_up_flow.MFA):
        raise LoginRequestInvalid("invalid_request", "step_up must be 'mfa'.")
    if mode not in ("cookie", "token"):
        raise LoginRequestInvalid("invalid_request", "mode must be 'cookie' or 'token'.")
    if mode == "token" and not (handoff_challenge and _CHALLENGE_RE.match(handoff_challenge)):
        raise LoginRequestInvalid(
            "invalid_request",
            "mode=token needs handoff_challenge: the base64url S256 hash of a verifier "
            "the web app keeps (43 characters).",
        )
    binding = request.COOKIES.get(BINDING_COOKIE, "")
    if not _BINDING_RE.match(binding):
        binding = secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    redirect_uri = callback_url(request)
    url = await oidc.authorization_url(
        redirect_uri=redirect_uri,
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        organization=organization or None,
        invitation=invitation or None,
        extra=step_up_flow.authorization_params() if step_up else None,
    )
    await acache(
        "set",
        flow_key(state),
        {
            "binding": binding_hash(binding),
            "nonce": nonce,
            "verifier": verifier,
            "redirect_uri": redirect_uri,
            "next": safe_next(next_param) or default_landing(),
            "organization": organization or None,
            "mode": mode,
            "handoff_challenge": handoff_challenge if mode == "token" else None,
            "step_up": bool(step_up),
            "created": time.time(),
        },
        FLOW_TTL,
    )
    metrics.count(metrics.LOGINS_STARTED)
    return LoginStart(authorize_url=url, binding=binding)
