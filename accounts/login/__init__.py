"""Logging a person in through the identity provider, and out: the OIDC client
(``oidc``, which knows no models), the start of a login (``begin``), the callback that
finishes it (``callback``), the admin's step-up (``step_up``), logout and the ending of
sessions it shares (``logout``), and the provider's back-channel logout (``backchannel``).

May import: accounts.api.base, accounts.app_settings, accounts.logcontext, accounts.models,
accounts.redirects, accounts.requestkit, accounts.tokens, accounts.upsert,
authsite.compiled, authsite.db, authsite.metrics.
"""
