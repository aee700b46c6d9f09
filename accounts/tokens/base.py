"""What the tokens share: the error, the grant, the caller's row, the audit row, and
this server's issuer and audience."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from organisations.access import applications_for

from ..models import AuditEvent, Role
from ..requestkit import is_allowed_host
from ..upsert import RequestMeta

NO_META = RequestMeta()


class TokenError(Exception):
    """A refused token, code or grant: ``error`` is the API error code."""

    def __init__(self, error: str, detail: str):
        super().__init__(detail)
        self.error = error
        self.detail = detail


def invalid_token(detail: str) -> TokenError:
    """Return the TokenError of a token that does not verify."""
    return TokenError("invalid_token", detail)


def new_jti() -> str:
    """Return a new access token id (``jti``)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Grant:
    """What an atomic unit hands back to be turned into a token pair: computed in the
    same thread hop, so minting the access token is pure computation. The access token's
    ``jti`` is drawn with the grant, in that thread: drawn on the event loop,
    ``os.urandom`` gives the GIL up there (docs/architecture.md, "Performance").
    ``dpop_jkt`` is the family's DPoP key thumbprint, empty when it is unbound."""

    user: object
    family_id: uuid.UUID
    refresh_token: str
    apps: list[str]
    dpop_jkt: str = ""
    jti: str = field(default_factory=new_jti)


def grant_for(
    user, family_id, refresh_token: str, applications: list[dict], dpop_jkt: str = ""
) -> Grant:
    """Return a grant; ``applications`` are the user's, as organisations.access shapes
    them."""
    apps = [application["code"] for application in applications]
    return Grant(
        user=user, family_id=family_id, refresh_token=refresh_token, apps=apps, dpop_jkt=dpop_jkt
    )


def new_grant(user, family_id, refresh_token: str, dpop_jkt: str = "") -> Grant:
    return grant_for(user, family_id, refresh_token, applications_for(user), dpop_jkt)


def hash_token(value: str) -> str:
    """Return the SHA-256 hex digest stored for a token or code. Any string hashes (a lone
    surrogate too): a value this server never issued then matches nothing."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def account_is_active(user) -> bool:
    """Return whether the account may be used, by the session backend's rule
    (accounts.backends): an active user whose organisation is active, or an active super
    admin without one. ``user.organisation`` must be loaded."""
    if not user.is_active:
        return False
    if user.organisation_id is None:
        return user.role == Role.SUPER_ADMIN
    return user.organisation.is_active


def audit_event(event_type, user, meta: RequestMeta, **details) -> AuditEvent:
    """Return an audit event, not yet saved."""
    return AuditEvent(
        type=event_type,
        user=user,
        organisation_id=user.organisation_id if user else None,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details=details,
    )


def audit(event_type, user, meta: RequestMeta, **details) -> None:
    audit_event(event_type, user, meta, **details).save()


def is_own_issuer(value) -> bool:
    """Return whether this server may have written the issuer: PUBLIC_BASE_URL when set;
    otherwise an ``http(s)://host[:port]`` URL without a path whose host is in
    ALLOWED_HOSTS, which is every base URL ``requestkit.base_url`` can derive from a
    request that Django accepts. Tokens are minted per request, so without
    PUBLIC_BASE_URL a token minted through one allowed host is accepted through another;
    set PUBLIC_BASE_URL in production for an exact match."""
    if not isinstance(value, str):
        return False
    if settings.PUBLIC_BASE_URL:
        return value == settings.PUBLIC_BASE_URL
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    return is_allowed_host(parts.netloc)


def audience_for(issuer: str) -> str:
    return settings.AUTH0_AUDIENCE or issuer
