"""POST /api/v1/auth/refresh and /revoke: rotate a refresh token into a new pair; revoke
a refresh token's family."""

from asgiref.sync import sync_to_async

from .. import tokens
from ..api import ApiError
from ..upsert import RequestMeta
from .token import asigner_or_unavailable


async def refresh(presented: str, *, issuer: str, meta: RequestMeta) -> dict:
    """A new pair for a refresh token (tokens.rotate_refresh_token states the rules);
    401 with ``invalid_token``, ``token_expired``, ``token_reused`` or
    ``user_inactive``."""
    signer = await asigner_or_unavailable()
    try:
        grant = await sync_to_async(tokens.rotate_refresh_token)(presented, meta=meta)
    except tokens.TokenError as exc:
        raise ApiError(401, exc.error, exc.detail) from None
    return await tokens.apair(grant, issuer=issuer, signer=signer)


async def revoke(presented: str, *, meta: RequestMeta) -> None:
    """Revoke the token's family; silent whether the token was known or not (RFC 7009)."""
    await sync_to_async(tokens.revoke_refresh_token)(presented, meta=meta)
