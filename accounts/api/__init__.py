"""The JSON API's plumbing, bottom up: ``base`` (the caller and the error shape),
``dpop`` (a request's DPoP proof), ``bearer`` (Bearer and DPoP access tokens),
``authentication`` (a request's caller), ``endpoint`` (the wrapper of every JSON view);
each module imports only those before it.

May import: accounts.models, accounts.rows, accounts.tokens, accounts.login.oidc,
accounts.logcontext, authsite.compiled, organisations.access (a view's access reads),
accounts.upsert, authsite.db, accounts.ratelimit (its Redis client), accounts.requestkit.
"""
