"""The DPoP header of an API request (RFC 9449): read, verified by
``accounts.tokens.dpop`` against the request's method and external URL, and its ``jti``
remembered in the shared cache so that a replay is refused by every process."""

from django.conf import settings

from authsite.db import in_thread, thread_cache

from ..ratelimit import redis_client
from ..requestkit import base_url
from ..tokens import dpop
from ..tokens.base import TokenError
from .base import ApiError

HEADER = "DPoP"

# The ASGI scope key under which the fast lane leaves the proof of a request it verified
# and then passed on: Django takes it, instead of verifying it again and finding its jti
# used.
LANE_PROOF = "authsite.dpop_proof"


def refused(error: str, detail: str) -> ApiError:
    """Return the 401 of a DPoP refusal, with the DPoP challenge (``dpop.challenge``)."""
    return ApiError(401, error, detail, dpop.challenge(error))


async def averify_request(request, access_token: str | None = None) -> dpop.Proof | None:
    """Return the request's verified DPoP proof, or None when it sends no DPoP header;
    raise ApiError 401 ``invalid_dpop_proof`` (or ``use_dpop_nonce``) for any other.
    ``access_token`` is the token the request presents, whose hash the proof's ``ath``
    must be. Exactly one header: servers join repeated ones with commas, which a JWT
    never holds. A proof that passes every other check is then remembered, once."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    verified = getattr(request, "scope", {}).get(LANE_PROOF)
    if verified is not None:
        return verified
    if "," in value:
        raise refused(dpop.INVALID, "Send exactly one DPoP header.")
    try:
        proof = dpop.verify_proof(
            value,
            method=request.method,
            url=base_url(request) + request.path,
            access_token=access_token,
            nonce_required=settings.DPOP_NONCE,
        )
    except TokenError as exc:
        raise refused(exc.error, exc.detail) from None
    if not await _afirst_use(dpop.replay_key(proof)):
        raise refused(dpop.INVALID, "This DPoP proof was used before; make a new one.")
    return proof


def _first_use(key: str) -> bool:
    return thread_cache().add(key, 1, dpop.REPLAY_WINDOW)


_afirst_use_in_thread = in_thread(_first_use)


async def _afirst_use(key: str) -> bool:
    """Remember ``key`` for REPLAY_WINDOW seconds; return whether it was new. With a
    Redis cache one ``SET NX`` on the event loop (the rate limits' client), else the
    cache's ``add`` in a thread; either way atomic, and shared by every process that
    shares the cache."""
    client = redis_client()
    if client is None:
        return await _afirst_use_in_thread(key)
    return bool(await client.set(thread_cache().make_key(key), 1, nx=True, ex=dpop.REPLAY_WINDOW))
