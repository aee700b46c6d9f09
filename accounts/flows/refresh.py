"""POST /api/v1/auth/refresh and /revoke: rotate a refresh token into a new pair; revoke
a refresh token's family."""

from django.conf import settings

from authsite.db import in_thread

from .. import ratelimit
from ..api.base import ApiError
from ..tokens import access as access_tokens
from ..tokens import base as token_base
from ..tokens import dpop, rotation
from ..tokens import refresh as refresh_tokens
from ..upsert import RequestMeta
from .token import asigner_or_unavailable

# The ASGI scope key under which the fast lane leaves its count of a refresh it passes
# on: True (within the limits) or the RateLimited it met. Such a request is not counted
# again.
LANE_COUNT = "authsite.token_limits"


def lane_count(request):
    """Return the fast lane's count of this request (see LANE_COUNT), or None when it
    made none."""
    return getattr(request, "scope", {}).get(LANE_COUNT)


def _token_limits(ip: str | None, user_id):
    yield "token-ip", ip, settings.RATE_LIMIT_TOKEN
    if user_id is not None:
        yield "token-user", str(user_id), settings.RATE_LIMIT_TOKEN


def count_token_request(ip: str | None, user_id) -> None:
    """Count a request to the token endpoints against RATE_LIMIT_TOKEN per client IP
    and, once known, per user (for a refresh, the token's owner); raise
    ratelimit.RateLimited past either. Call it before any token is spent, so that a
    limited request loses nothing."""
    ratelimit.hit_each(*_token_limits(ip, user_id))


async def acount_token_request(ip: str | None, user_id) -> None:
    """Count as ``count_token_request`` does, from async code (ratelimit.ahit_each: one
    round trip)."""
    await ratelimit.ahit_each(*_token_limits(ip, user_id))


def _rotate_within_limits(
    presented: str, meta: RequestMeta, counted: bool, dpop_jkt: str
) -> token_base.Grant:
    """Count the limits (unless ``counted`` already), then rotate, in one thread hop;
    return the grant."""
    if not counted:
        count_token_request(meta.ip, refresh_tokens.refresh_token_owner(presented))
    return rotation.rotate_refresh_token(presented, meta=meta, dpop_jkt=dpop_jkt)


_arotate_within_limits = in_thread(_rotate_within_limits)
_arevoke_refresh_token = in_thread(refresh_tokens.revoke_refresh_token)


async def refresh(
    presented: str,
    *,
    issuer: str,
    meta: RequestMeta,
    counted=None,
    proof: dpop.Proof | None = None,
) -> dict:
    """Return a new pair for a refresh token (rotation.rotate_refresh_token states
    the rules) and ``proof``, the request's verified DPoP proof, if any; raise ApiError
    401 with ``invalid_token``, ``token_expired``, ``token_reused``, ``user_inactive``
    or ``invalid_dpop_proof`` (with the DPoP challenge), and ratelimit.RateLimited past
    the rate limits. ``counted`` is the fast lane's count of the request
    (``lane_count``): a RateLimited is raised, True skips the count."""
    if isinstance(counted, ratelimit.RateLimited):
        raise counted
    signer = await asigner_or_unavailable()
    try:
        grant = await _arotate_within_limits(
            presented, meta, bool(counted), proof.jkt if proof else ""
        )
    except token_base.TokenError as exc:
        challenge = dpop.challenge(exc.error) if exc.error == dpop.INVALID else None
        raise ApiError(401, exc.error, exc.detail, challenge) from None
    return access_tokens.pair(grant, issuer=issuer, signer=signer)


async def revoke(presented: str, *, meta: RequestMeta) -> None:
    """Revoke the token's family; silent whether the token was known or not (RFC 7009)."""
    await _arevoke_refresh_token(presented, meta=meta)
