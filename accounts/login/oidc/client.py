"""The authorization-code flow with PKCE against the provider, through authlib."""

from urllib.parse import urlencode

import httpx2
from authlib.integrations.base_client import OAuthError

from ... import app_settings
from .errors import OIDCError, ProviderUnavailable
from .http import oauth_client
from .metadata import discovery


async def authorization_url(
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    organization: str | None = None,
    invitation: str | None = None,
    extra: dict | None = None,
) -> str:
    """Return where to send the browser: the provider's authorization endpoint with
    response_type=code, client_id, redirect_uri, scope, state, nonce, the S256 code
    challenge, audience / organization / invitation when given, and ``extra``
    parameters (a step-up's acr_values and max_age)."""
    metadata = await discovery()
    extra = {**(extra or {}), "nonce": nonce}
    if app_settings.audience():
        extra["audience"] = app_settings.audience()
    if organization:
        extra["organization"] = organization
    if invitation:
        extra["invitation"] = invitation
    url, _ = oauth_client().create_authorization_url(
        metadata["authorization_endpoint"],
        state=state,
        code_verifier=code_verifier,
        scope=app_settings.scope(),
        redirect_uri=redirect_uri,
        **extra,
    )
    return url


async def exchange_code(*, code: str, redirect_uri: str, code_verifier: str) -> dict:
    """Trade the authorization code (with its PKCE verifier) for the provider's tokens
    and return them.

    Raise OIDCError ``invalid_grant`` (400) when the provider refuses the code (spent or
    forged), and ProviderUnavailable (502) when it fails, times out, answers nonsense or
    refuses this server's client credentials."""
    metadata = await discovery()
    try:
        token = await oauth_client().fetch_token(
            metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
        )
    except OAuthError as exc:
        # Auth0 answers bad client credentials with 401 access_denied ("Unauthorized").
        if exc.error in ("invalid_client", "unauthorized_client", "access_denied"):
            raise ProviderUnavailable(
                f"the provider refused this server's client credentials ({exc.error})"
            ) from None
        raise OIDCError("invalid_grant", f"the provider refused the code ({exc.error})") from None
    except httpx2.HTTPError as exc:
        raise ProviderUnavailable(f"the token endpoint failed ({exc.__class__.__name__})") from None
    except ValueError as exc:
        raise ProviderUnavailable(f"the token endpoint answered nonsense ({exc})") from None
    return dict(token)


async def logout_url(return_to: str) -> str:
    """Return the provider's end-session URL (RP-initiated logout) with client_id and
    where to return; Auth0's `/v2/logout` when the provider advertises no
    end_session_endpoint or cannot be reached right now (logging out locally must not
    depend on it)."""
    try:
        metadata = await discovery()
    except OIDCError:
        metadata = {"issuer": app_settings.issuer() or ""}
    return end_session_url(metadata, return_to)


def end_session_url(metadata: dict, return_to: str) -> str:
    """Return the logout URL of the discovery document ``metadata`` for ``return_to``:
    its end_session_endpoint, else Auth0's `/v2/logout` under its issuer."""
    end_session = metadata.get("end_session_endpoint")
    if end_session:
        query = {"client_id": app_settings.client_id(), "post_logout_redirect_uri": return_to}
        return f"{end_session}?{urlencode(query)}"
    query = {"client_id": app_settings.client_id(), "returnTo": return_to}
    return f"{metadata['issuer'].rstrip('/')}/v2/logout?{urlencode(query)}"
