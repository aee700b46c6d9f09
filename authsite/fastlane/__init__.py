"""The fast lane: ``GET /api/v1/auth/me`` with an app access token and ``POST
/api/v1/auth/refresh`` that wins its rotation, answered on the event loop, in front of
Django (authsite/asgi.py). ``app`` is the ASGI application and the two answers;
``database`` its pool and statements (the SQL Django compiles from the querysets that
Django's path runs, authsite/compiled.py); ``http`` builds Django's own request object
and writes the headers Django's middleware would. docs/architecture.md says what it
answers, what it declines to Django, and why every rule is shared with Django's path.

The lane only ever answers 200. Every other request goes to Django unchanged (a refresh
with the body already read, replayed) and is answered the ordinary way: another method
or path, no Bearer token or an identity provider's, a Host Django would refuse or a
forwarded one, a CSRF cookie Django would renew, a ``/me`` with a DPoP header or an
access token bound to a DPoP key, a refresh whose DPoP proof Django's verification
refuses or of a bound family without a proof by its key, a token that does not verify,
a revoked family, a deactivated account, a refresh token that is refused or already
spent, a rate limit, a failed CSRF check, a database or cache that fails or has no
connection free within POOL_WAIT, and any other exception raised inside the lane. A
refresh the lane declines has written nothing: its transaction is rolled back; a DPoP
proof it verified goes to Django with it (``accounts.api.dpop.LANE_PROOF``). On SQLite,
or with FAST_LANE off, the lane is off; it still gives every request its id
(X-Request-ID).

May import: accounts, organisations, authsite.db, authsite.compiled, authsite.middleware,
authsite.metrics.
"""
