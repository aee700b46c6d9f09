"""Authentication by ``Authorization: Bearer <token>``, or ``DPoP <token>`` for an app
access token bound to a DPoP key (RFC 9449 §7).

The token's ``iss`` is read unverified only to choose the verifier; each verifier then
checks everything, ``iss`` included. A token from an issuer we do not verify is refused.
"""

from django.conf import settings
from django.db import connection

from authsite.compiled import CompiledBatch, CompiledQuery
from authsite.db import in_thread
from organisations.access import ALL_ACCESS, APPLICATION_ACCESS, FEATURE_ACCESS, AccessRead

from ..login import oidc
from ..models import TokenFamily, User
from ..rows import user_columns, user_from_row
from ..tokens import dpop
from ..tokens.access import averify_access_token, bound_key, remembered_access_claims
from ..tokens.access import unverified_claims as peek_claims
from ..tokens.base import TokenError, account_is_active, is_own_issuer
from ..upsert import (
    LoginRefused,
    RequestMeta,
    agrant_pending_access,
    aupsert_identity,
    find_identity,
    login_succeeded_event,
)
from .base import ApiError, Principal, aload
from .dpop import refused as dpop_refused

_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _refused(error: str, detail: str) -> ApiError:
    return ApiError(401, error, detail, dict(_CHALLENGE))


async def authenticate_bearer(
    token: str, load=None, load_for=None, *, proof: dpop.Proof | None = None, scheme="bearer"
) -> tuple[Principal, object]:
    """Return the principal of a Bearer (``scheme`` "bearer") or DPoP ("dpop") access
    token and ``load(principal.user)`` (None without a ``load``), or raise ApiError 401.
    For an app access token, ``await load_for(claims)``, once the token has verified and
    its binding been checked, returns the ``load`` that runs in its family's lookup
    instead.

    ``invalid_token`` for anything that does not verify (signature, key, issuer,
    audience, expiry, type) or whose family is revoked or unknown (logout, reuse
    detection, admin revocation); ``user_inactive`` when the user or their
    organisation is deactivated. Each takes effect at the next request. A token bound
    to a DPoP key needs the DPoP scheme and ``proof``, the request's verified proof,
    by that key (``check_binding``). Refusals under the DPoP scheme carry its
    challenge."""
    try:
        return await _authenticate(token, load, load_for, proof, scheme)
    except ApiError as exc:
        if scheme == "dpop" and exc.status == 401:
            own = exc.error in (dpop.INVALID, dpop.USE_NONCE)
            exc.headers = dpop.challenge(exc.error if own else "invalid_token")
        raise


async def _authenticate(token, load, load_for, proof, scheme) -> tuple[Principal, object]:
    try:
        # A token this process verified before is known to be its own: no peek.
        claims = remembered_access_claims(token)
        issuer = (claims or peek_claims(token)).get("iss")
    except TokenError as exc:
        raise _refused(exc.error, exc.detail) from None
    # The identity provider first: a development provider on another port of an
    # allowed host would otherwise look like our own issuer.
    if _is_provider_issuer(issuer):
        if scheme == "dpop":
            raise _refused("invalid_token", "Only this server's access tokens are DPoP-bound.")
        principal = await _provider_token_principal(token)
        return principal, await aload(load, principal.user)
    if is_own_issuer(issuer):
        return await _app_token_principal(token, load, claims, load_for, proof, scheme)
    raise _refused("invalid_token", "The token was not issued by a trusted issuer.")


def check_binding(claims: dict, proof: dpop.Proof | None, scheme: str) -> None:
    """Raise ApiError 401 unless verified app-token ``claims`` are presented as their
    binding asks (RFC 9449 §7): a bound token (``cnf.jkt``) only under the DPoP scheme,
    with a proof by that key (``invalid_dpop_proof`` otherwise, the Bearer scheme
    included); an unbound one only as Bearer (``invalid_token``)."""
    jkt = bound_key(claims)
    if not jkt:
        if scheme == "dpop":
            raise _refused(
                "invalid_token", "This access token is not DPoP-bound: send it as Bearer."
            )
        return
    if scheme != "dpop":
        raise dpop_refused(
            dpop.INVALID, "This access token is DPoP-bound: send it as DPoP, with a proof."
        )
    if proof is None:
        raise dpop_refused(dpop.INVALID, "A DPoP-bound access token needs a DPoP proof.")
    if proof.jkt != jkt:
        raise dpop_refused(
            dpop.INVALID, "The DPoP proof is not signed by the key this token is bound to."
        )


def app_token_family_query(family_id):
    """Return the live family of an app access token, as one row: its user's fields, then
    the user's organisation's (NULLs without one). The one definition of the query every
    Bearer request with an app token makes; ``authsite.fastlane`` runs the SQL Django
    compiles from it."""
    return TokenFamily.objects.filter(pk=family_id, revoked_at__isnull=True).values_list(
        *user_columns("user__")
    )


# The query of every Bearer request with an app token, compiled once per process: the
# Django path runs it through the ORM's connection, the fast lane through its own pool.
PRINCIPAL = CompiledQuery(app_token_family_query, family_id=TokenFamily._meta.pk)

# On PostgreSQL, the same query with each view's access reads, as one statement.
BATCHES = {
    read: CompiledBatch(PRINCIPAL, *read.queries)
    for read in (ALL_ACCESS, APPLICATION_ACCESS, FEATURE_ACCESS)
}


def principal_statements(claims: dict, read: AccessRead):
    """Yield each statement that reads the user of verified app-token ``claims`` with
    their access (``read``), as a batch of ``BATCHES`` and its values, and receive the
    batch's rows; return (user, access as ``read`` answers it), or raise ApiError as
    ``app_token_user`` does.

    One statement for the user and the organisation the token names; a second only when
    the user has since moved, for the organisation they are in now."""
    batch = BATCHES[read]
    family = {"family_id": claims["fam"]}
    organisation_id = claims.get("org")
    for _ in range(2):
        values = {"user_id": claims["sub"], "organisation_id": organisation_id}
        rows, *access = yield batch, (family, *[values] * len(read.queries))
        user = app_token_user(claims, rows[0] if rows else None)
        if user.organisation_id == organisation_id:
            break
        organisation_id = user.organisation_id
    return user, read.from_rows(access)


@in_thread
def _app_token_user(claims: dict, load):
    """Return the user of verified app-token ``claims`` (``app_token_user``, from the
    row of ``app_token_family_query``) and ``load(user)`` (None without a ``load``), in
    one thread hop; on PostgreSQL an ``AccessRead`` is read in the same statement
    (``principal_statements``), otherwise after it."""
    if isinstance(load, AccessRead) and connection.vendor == "postgresql":
        statements, rows = principal_statements(claims, load), None
        while True:
            try:
                batch, values = statements.send(rows)
            except StopIteration as done:
                return done.value
            rows = batch.fetch(connection, *values)
    rows = PRINCIPAL.fetch(connection, family_id=claims["fam"])
    user = app_token_user(claims, rows[0] if rows else None)
    return user, load(user) if load is not None else None


def app_token_user(claims: dict, row) -> User:
    """Return the user that verified app-token ``claims`` and their family's row (or
    None) prove, or raise ApiError 401: ``invalid_token`` for a revoked or unknown family
    or one of another user, ``user_inactive`` for a deactivated user or organisation."""
    if row is None:
        raise _refused("invalid_token", "The token has been revoked.")
    user = user_from_row(row)
    if str(user.pk) != claims["sub"]:
        raise _refused("invalid_token", "The token has been revoked.")
    if not account_is_active(user):
        raise _refused("user_inactive", "This account or its organisation is deactivated.")
    return user


async def _app_token_principal(
    token: str, load, claims, load_for, proof, scheme
) -> tuple[Principal, object]:
    """Return the principal of an app access token and ``load(user)``, the ``load``
    being ``await load_for(claims)`` when there is a ``load_for``; ``claims`` are the
    token's remembered verified claims, if any."""
    if claims is None:
        try:
            claims = await averify_access_token(token)
        except TokenError as exc:
            raise _refused(exc.error, exc.detail) from None
    check_binding(claims, proof, scheme)
    if load_for is not None:
        load = await load_for(claims)
    user, loaded = await _app_token_user(claims, load)
    return Principal(user=user, via="bearer", claims=claims), loaded


def is_app_token_issuer(issuer) -> bool:
    """Return whether ``authenticate_bearer`` verifies a token of this issuer as an app
    access token."""
    return not _is_provider_issuer(issuer) and is_own_issuer(issuer)


def _is_provider_issuer(issuer) -> bool:
    configured = settings.AUTH0_ISSUER
    return bool(
        settings.AUTH0_AUDIENCE
        and configured
        and isinstance(issuer, str)
        and issuer.rstrip("/") == configured.rstrip("/")
    )


_find_identity = in_thread(find_identity)


async def _provider_token_principal(token: str) -> Principal:
    """Return the principal of an Auth0 access token for AUTH0_AUDIENCE, verified
    locally against the provider's JWKS (never /userinfo per request), upserting its
    person on first sight and granting any access they are owed; raise ApiError 401, or
    503 when the provider is unreachable."""
    try:
        claims = await oidc.verify_access_token(token, audience=settings.AUTH0_AUDIENCE)
    except oidc.ProviderUnavailable:
        raise ApiError(
            503, "idp_unavailable", "The identity provider cannot be reached to verify the token."
        ) from None
    except oidc.OIDCError as exc:
        raise _refused("invalid_token", exc.reason) from None
    if "cnf" in claims:
        # Bound to a key of the provider's client that this server cannot check.
        raise _refused("invalid_token", "A sender-constrained provider token is not accepted.")
    if claims.get("gty") == "client-credentials" or claims["sub"].endswith("@clients"):
        # A machine's token (client credentials) names no person: it must not become one.
        raise _refused("invalid_token", "A client-credentials token does not identify a person.")
    identity = await _find_identity(claims["iss"], claims["sub"])
    if identity is None:
        try:
            upserted = await aupsert_identity(claims["iss"], claims)
        except LoginRefused as exc:
            raise _refused("user_inactive", exc.reason) from None
        await login_succeeded_event(upserted, RequestMeta()).asave()
        identity = await _find_identity(claims["iss"], claims["sub"])
    if not account_is_active(identity.user):
        raise _refused("user_inactive", "This account or its organisation is deactivated.")
    await agrant_pending_access(identity.user)
    return Principal(user=identity.user, via="bearer", claims=claims)
