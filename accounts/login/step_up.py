"""Step-up to a multi-factor login, for the admin.

A login's authentication facts (`amr`, `acr`, `auth_time` from its verified ID token) are
kept in its session. The admin admits a person only while those facts show multi-factor
authentication no older than ADMIN_AUTH_MAX_AGE; otherwise it sends them through
``/auth/login?step_up=mfa``, which asks the provider for the multi-factor policy and a
`max_age`, and whose callback refuses an ID token that does not prove both.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from .oidc.tokens import LEEWAY

MFA = "mfa"
MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
SESSION_KEY = "login_auth"


class StepUpRefused(Exception):
    """The provider's answer to a step-up does not prove a recent multi-factor login."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def login_auth(claims: dict) -> dict:
    """Return the authentication facts of a verified ID token, as kept in its session:
    ``amr`` (a list of strings, else empty), ``acr`` and ``auth_time`` (None unless a
    string and an integer)."""
    amr = claims.get("amr")
    acr = claims.get("acr")
    auth_time = claims.get("auth_time")
    return {
        "amr": [value for value in amr if isinstance(value, str)] if isinstance(amr, list) else [],
        "acr": acr if isinstance(acr, str) else None,
        "auth_time": auth_time if type(auth_time) is int else None,
    }


def check(auth: dict, now: int | None = None) -> None:
    """Raise StepUpRefused unless ``auth`` shows multi-factor authentication (``amr``
    containing "mfa", or ``acr`` the multi-factor policy) at an ``auth_time`` within
    ADMIN_AUTH_MAX_AGE seconds, and not in the future."""
    now = int(time.time()) if now is None else now
    if MFA not in auth["amr"] and auth["acr"] != MFA_POLICY:
        raise StepUpRefused(
            "mfa_required",
            "The identity provider did not confirm a multi-factor login, which the admin needs.",
        )
    auth_time = auth["auth_time"]
    if auth_time is None or auth_time > now + LEEWAY:
        raise StepUpRefused(
            "login_too_old", "The identity provider did not say when this login happened."
        )
    if now - auth_time > settings.ADMIN_AUTH_MAX_AGE:
        raise StepUpRefused(
            "login_too_old",
            "The multi-factor login is too old for the admin; sign in again.",
        )


def needed(session) -> bool:
    """Return whether ADMIN_MFA_REQUIRED is on and this session's login does not pass
    ``check`` now (a password sign-in never does)."""
    if not settings.ADMIN_MFA_REQUIRED:
        return False
    auth = session.get(SESSION_KEY)
    if not isinstance(auth, dict):
        return True
    try:
        check(auth)
    except StepUpRefused:
        return True
    return False


def authorization_params() -> dict:
    """Return the authorization request's additions for a step-up."""
    return {"acr_values": MFA_POLICY, "max_age": str(settings.ADMIN_AUTH_MAX_AGE)}


def login_url(next_path: str) -> str:
    """Return the URL of a login that steps up and then comes back to ``next_path``."""
    return reverse("login") + "?" + urlencode({"next": next_path, "step_up": MFA})
