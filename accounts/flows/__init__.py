"""The API's flows after a login: issuing tokens (``token``), rotating a refresh token
(``refresh``), and a person's own sessions (``sessions``). Views call one flow each.

May import: accounts.api.base, accounts.keys, accounts.login.logout, accounts.models,
accounts.ratelimit, accounts.tokens, accounts.upsert, accounts.useragent, authsite.db.
"""
