"""Every check, in the report's order: configuration, discovery, issuer, JWKS, client
credentials, callback URL, clock, cookies / CORS / CSRF (the project's own system
checks), signing key, audience. A check that needs an earlier one that failed is a
`skip` naming the reason, never a second failure for the same cause."""

import asyncio

from .base import Check, skipped, usable_issuer
from .local import (
    callback_url,
    check_audience,
    check_callback_url,
    check_configuration,
    check_cookies_and_origins,
    check_signing_key,
)
from .provider import ProviderReport, probe_provider


def diagnose() -> list[Check]:
    """Run every check and return them in the report's order. The provider is probed in
    one event loop (closed before the signing key is read from the database)."""
    configuration = check_configuration()
    issuer = usable_issuer()
    if issuer:
        provider = asyncio.run(probe_provider(issuer, callback_url()))
    else:
        provider = ProviderReport(
            *(
                skipped(name, "no usable issuer (see configuration)")
                for name in ("discovery", "issuer", "jwks", "client credentials", "clock")
            )
        )
    return [
        configuration,
        provider.discovery,
        provider.issuer,
        provider.jwks,
        provider.credentials,
        check_callback_url(),
        provider.clock,
        *check_cookies_and_origins(),
        check_signing_key(),
        check_audience(),
    ]
