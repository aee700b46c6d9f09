"""Every check, in the report's order: configuration, discovery, issuer, JWKS, client
credentials, callback URL, logout URL, back-channel logout, clock, cookies / CORS / CSRF
(the project's own system checks), signing key, audience. A check that needs an earlier
one that failed is a `skip` naming the reason, never a second failure for the same
cause."""

import asyncio

from .base import Check, skipped, usable_issuer
from .local import callback_url, check_configuration, check_cookies_and_origins, check_signing_key
from .provider import ProviderReport, probe_provider
from .tenant import TenantReport, probe_tenant


def diagnose() -> list[Check]:
    """Run every check and return them in the report's order. The provider is probed in
    one event loop (closed before the signing key is read from the database)."""
    configuration = check_configuration()
    provider, tenant = asyncio.run(_probe(usable_issuer()))
    return [
        configuration,
        provider.discovery,
        provider.issuer,
        provider.jwks,
        provider.credentials,
        tenant.callback,
        tenant.logout,
        tenant.backchannel,
        provider.clock,
        *check_cookies_and_origins(),
        check_signing_key(),
        tenant.audience,
    ]


async def _probe(issuer: str | None) -> tuple[ProviderReport, TenantReport]:
    """Return the provider's lines, then the tenant's, judged from its discovery
    document; without a usable issuer, the provider's lines are skipped."""
    if issuer:
        provider = await probe_provider(issuer, callback_url())
        why_not = "discovery failed"
    else:
        why_not = "no usable issuer (see configuration)"
        provider = ProviderReport(
            *(
                skipped(name, why_not)
                for name in ("discovery", "issuer", "jwks", "client credentials", "clock")
            )
        )
    return provider, await probe_tenant(provider.document, why_not, provider.credentials)
