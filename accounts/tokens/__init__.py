"""What this server issues and verifies, after a login: app access tokens (``access``),
refresh tokens in families (``refresh``), rotated once each (``rotation``), the token
handoff's one-time login codes (``handoff``), DPoP proofs (``dpop``, RFC 9449), and
what they share (``base``: the grant, the caller's row, the issuer and audience, the
audit row).

Access tokens are JWTs (header ``typ: at+jwt``, RFC 9068; ``alg`` and ``kid`` of the
signing key, accounts.keys) with ``iss`` = this server's base URL, ``aud`` =
AUTH0_AUDIENCE or the base URL, ``sub`` = user id, ``org``, ``role``, ``apps`` (codes),
``fam`` (token family), ``jti``, ``iat``, ``exp``, and ``cnf.jkt`` when the family is
bound to a DPoP key. The platform's applications verify them against
/.well-known/jwks.json.

Refresh tokens are opaque (256 random bits), stored only as their SHA-256 hex digest,
and belong to a family (one grant). Presenting one spends it and yields a child
(rotation). Revocation is per family, and this server looks the family up on every
Bearer request: logging out, reuse detection, an admin's "revoke everything", or a
deactivated user or organisation take effect at the next request, not at expiry
(docs/architecture.md says why a family rather than a token version or a deny-list).

Every write that must be atomic is one plain function under ``transaction.atomic()``,
or one statement (a refresh token with its event, on PostgreSQL: authsite.compiled),
called once, in one thread hop, by the async code (authsite.db).

May import: accounts.models, accounts.rows, accounts.keys, accounts.logcontext, accounts.requestkit,
accounts.upsert, organisations, authsite.compiled, authsite.db, authsite.metrics.
"""
