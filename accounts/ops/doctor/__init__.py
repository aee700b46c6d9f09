"""The Auth0 configuration checked end to end, for `manage.py auth_doctor`: ``base`` (a
check's verdict and the helpers every check uses), ``provider`` (discovery, issuer,
JWKS, client credentials and clock, over HTTP), ``tenant`` (the application's
registration as it shows from outside: callback and logout URLs, back-channel logout, the
API of AUTH0_AUDIENCE), ``local`` (what this server's own settings and database say),
``report`` (every check, in the report's order).

The doctor changes nothing. It fetches discovery and the JWKS fresh (never from the shared
cache, which may hold a stale copy that hides an outage), never creates a signing key,
and never prints the client secret. The HTTP checks run in one event loop; the
database is read after that loop has closed, so no ORM call runs inside it.

May import: accounts.app_settings, accounts.keys, accounts.models, accounts.login.oidc,
accounts.ops.checks.
"""
