"""POST /api/v1/auth/token: a token pair for an authenticated caller, or for the holder
of a handoff login code and its verifier."""

import functools

from django.conf import settings

from authsite.db import in_thread

from .. import keys
from ..api.base import ApiError, Principal
from ..tokens import access as access_tokens
from ..tokens import base as token_base
from ..tokens import dpop
from ..tokens import handoff as handoff_codes
from ..tokens import refresh as refresh_tokens
from ..upsert import RequestMeta


async def asigner_or_unavailable() -> keys.Signer:
    """Return the signing key; call it before any write, so that a key that cannot sign
    never spends a code or a refresh token. Raise ApiError 503 when it cannot be
    decrypted."""
    try:
        return await keys.asigner()
    except keys.SigningKeyUnavailable:
        raise ApiError(
            503, "service_unavailable", "Tokens cannot be issued right now; try again later."
        ) from None


async def issue_for_principal(
    principal: Principal,
    *,
    issuer: str,
    session_key: str,
    meta: RequestMeta,
    proof: dpop.Proof | None = None,
) -> dict:
    """Return a pair for the caller. A session caller gets a new family tied to its session
    (logging out revokes it); a caller holding an app access token gets the pair in that
    token's family (revoking the family revokes it too), with the family's binding. A new
    family is bound to the key of ``proof``, the request's verified DPoP proof, if any."""
    signer = await asigner_or_unavailable()
    family_id = principal.family_id if principal.via == "bearer" else None
    if family_id is not None:
        dpop_jkt = access_tokens.bound_key(principal.claims)
    else:
        dpop_jkt = proof.jkt if proof else ""
    grant = await refresh_tokens.aissue_grant(
        principal.user,
        session_key=session_key if principal.via == "session" else "",
        family_id=family_id,
        meta=meta,
        dpop_jkt=dpop_jkt,
    )
    return access_tokens.pair(grant, issuer=issuer, signer=signer)


async def app_token_issue(claims: dict, *, meta: RequestMeta):
    """Return the ``load`` that issues a pair in the family of a caller holding an app
    access token, whose verified ``claims`` name the family and its binding: run in the
    family's lookup (``accounts.api.endpoint``), ``load(user)`` returns (grant, signer).
    Read the signing key first, so that a key that cannot sign writes nothing; raise
    ApiError 503 when it cannot be decrypted."""
    signer = await asigner_or_unavailable()
    return functools.partial(
        _issue_in_family,
        family_id=claims["fam"],
        dpop_jkt=access_tokens.bound_key(claims),
        meta=meta,
        signer=signer,
    )


def _issue_in_family(user, *, family_id, dpop_jkt: str, meta: RequestMeta, signer: keys.Signer):
    """Issue a refresh token of the family to ``user`` (``issue_grant``: the token and
    its TOKEN_ISSUED event in one transaction); return (grant, signer)."""
    grant = refresh_tokens.issue_grant(user, family_id=family_id, meta=meta, dpop_jkt=dpop_jkt)
    return grant, signer


_aredeem_handoff_code = in_thread(handoff_codes.redeem_handoff_code)


async def redeem_login_code(
    code, verifier, *, issuer: str, meta: RequestMeta, proof: dpop.Proof | None = None
) -> dict:
    """Return a pair for the holder of a login code and the verifier of its challenge, in
    a new family bound to the key of ``proof``, the request's verified DPoP proof, if
    any; raise ApiError 400 ``invalid_grant`` for a bad, spent, expired or unverifiable
    code. With DPOP_REQUIRED, raise ApiError 401 ``invalid_dpop_proof`` without a proof,
    the code left unspent: the web app may still redeem it with one."""
    if not isinstance(code, str) or not code:
        raise ApiError(400, "invalid_request", "login_code must be a non-empty string.")
    if settings.DPOP_REQUIRED and proof is None:
        raise ApiError(
            401,
            dpop.INVALID,
            "This server binds the tokens of a login code to a DPoP key: send a DPoP proof.",
            dpop.challenge(dpop.INVALID),
        )
    signer = await asigner_or_unavailable()
    try:
        grant = await _aredeem_handoff_code(
            code, verifier, meta=meta, dpop_jkt=proof.jkt if proof else ""
        )
    except token_base.TokenError as exc:
        raise ApiError(400, exc.error, exc.detail) from None
    return access_tokens.pair(grant, issuer=issuer, signer=signer)
