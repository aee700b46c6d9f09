"""The Auth0 (OpenID Connect) client. It knows nothing of models: it turns HTTP and JWTs
into verified claims, and raises OIDCError subclasses with stable codes otherwise.

May import: accounts.app_settings, accounts.logcontext, authsite.db (the shared cache in
the database threads), authsite.metrics.
"""

from .client import authorization_url, end_session_url, exchange_code, logout_url
from .errors import InvalidToken, OIDCError, ProviderUnavailable
from .metadata import discovery, jwks
from .tokens import (
    unverified_claims,
    verify_access_token,
    verify_id_token,
    verify_logout_token,
)

__all__ = [
    "InvalidToken",
    "OIDCError",
    "ProviderUnavailable",
    "authorization_url",
    "discovery",
    "end_session_url",
    "exchange_code",
    "jwks",
    "logout_url",
    "unverified_claims",
    "verify_access_token",
    "verify_id_token",
    "verify_logout_token",
]
