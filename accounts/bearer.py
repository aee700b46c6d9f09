"""Authentication by ``Authorization: Bearer <token>``.

The token's ``iss`` is read unverified only to choose the verifier; each verifier then
checks everything, ``iss`` included. A token from an issuer we do not verify is refused.
"""

from .api import ApiError, Principal
from .models import TokenFamily
from .tokens import TokenError, account_is_active, averify_access_token, is_own_issuer
from .tokens import unverified_claims as peek_claims

_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _refused(error: str, detail: str) -> ApiError:
    return ApiError(401, error, detail, dict(_CHALLENGE))


async def authenticate_bearer(token: str) -> Principal:
    """The principal of a Bearer token, or ApiError 401.

    ``invalid_token`` for anything that does not verify (signature, key, issuer,
    audience, expiry, type) or whose family is revoked or unknown (logout, reuse
    detection, admin revocation); ``user_inactive`` when the user or their
    organisation is deactivated. Each takes effect at the next request."""
    try:
        issuer = peek_claims(token).get("iss")
    except TokenError as exc:
        raise _refused(exc.error, exc.detail) from None
    if is_own_issuer(issuer):
        return await _app_token_principal(token)
    raise _refused("invalid_token", "The token was not issued by a trusted issuer.")


async def _app_token_principal(token: str) -> Principal:
    try:
        claims = await averify_access_token(token)
    except TokenError as exc:
        raise _refused(exc.error, exc.detail) from None
    family = (
        await TokenFamily.objects.select_related("user__organisation")
        .filter(pk=claims["fam"], revoked_at__isnull=True)
        .afirst()
    )
    if family is None or str(family.user_id) != claims["sub"]:
        raise _refused("invalid_token", "The token has been revoked.")
    if not account_is_active(family.user):
        raise _refused("user_inactive", "This account or its organisation is deactivated.")
    return Principal(user=family.user, via="bearer", claims=claims)
