"""Discovery and JWKS, cached in the shared Django cache so every process agrees.

Both are kept with the time they were fetched, and each process reuses the entry it
read for ``PROCESS_MEMO`` seconds before asking the shared cache again (a thread hop),
so a burst of logins reads each once a second, not several times a login. Fresh
entries are served as they are; an entry older than its TTL is refreshed, and served
stale when the refresh fails, so a provider hiccup does not stop logins whose keys we
already know. An unknown `kid` (key rotation) triggers at most one JWKS refetch per
throttle window across all processes (the others read its result from the shared
cache), and unknown kids are remembered briefly so a flood of bad tokens cannot hammer the
provider.
"""

import hashlib
import time

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authsite.db import acache

from ... import app_settings
from .errors import InvalidToken, OIDCError, ProviderUnavailable
from .http import get_json

KEEP_STALE_FOR = 7 * 24 * 3600
JWKS_REFETCH_THROTTLE = 30
UNKNOWN_KID_TTL = 60

REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


# Each shared entry as this process last read or wrote it, and until when it may be
# reused without asking the shared cache again.
PROCESS_MEMO = 1.0
_memo: dict[str, tuple[float, dict]] = {}


def _key(kind: str, issuer: str) -> str:
    return f"oidc:{kind}:{issuer}"


def _unknown_kid_key(kid: str, issuer: str) -> str:
    # kid comes from an untrusted token: hash it so no backend sees a hostile key.
    return _key("unknown-kid:" + hashlib.sha256(kid.encode()).hexdigest()[:32], issuer)


async def _shared_entry(key: str, *, reread: bool = False) -> dict | None:
    """Return the shared cache's entry, as this process read it less than
    ``PROCESS_MEMO`` seconds ago unless ``reread``; None when there is none."""
    now = time.monotonic()
    memo = _memo.get(key)
    if not reread and memo is not None and now < memo[0]:
        return memo[1]
    entry = await acache("get", key)
    if entry:
        _memo[key] = (now + PROCESS_MEMO, entry)
    return entry


async def _cached(
    kind: str, issuer: str, fetch, *, force: bool = False, reread: bool = False
) -> tuple[object, float]:
    """Return (value, when it was fetched) of the shared cache's entry (read again, not
    reused, when ``reread``), refreshed through ``fetch`` when older than the TTL or
    ``force``d, and served stale when the provider cannot be reached."""
    key = _key(kind, issuer)
    entry = await _shared_entry(key, reread=reread)
    if entry and not force and time.time() - entry["fetched_at"] < app_settings.metadata_ttl():
        return entry["value"], entry["fetched_at"]
    try:
        value = await fetch()
    except ProviderUnavailable:
        if entry:
            return entry["value"], entry["fetched_at"]
        raise
    fetched_at = time.time()
    entry = {"value": value, "fetched_at": fetched_at}
    await acache("set", key, entry, KEEP_STALE_FOR)
    _memo[key] = (time.monotonic() + PROCESS_MEMO, entry)
    return value, fetched_at


async def discovery(issuer: str | None = None) -> dict:
    """Return the provider's metadata from `<issuer>.well-known/openid-configuration`."""
    issuer = issuer or app_settings.issuer()
    if not issuer:
        raise OIDCError("not_configured", "No identity provider is configured (AUTH0_ISSUER).")

    async def fetch():
        document, _ = await get_json(app_settings.discovery_url(issuer))
        missing = [name for name in REQUIRED_METADATA if not document.get(name)]
        if missing:
            raise ProviderUnavailable(f"discovery document lacks {', '.join(missing)}")
        if document["issuer"].rstrip("/") != issuer.rstrip("/"):
            raise ProviderUnavailable(
                f"discovery states issuer {document['issuer']!r}, configured {issuer!r}"
            )
        return document

    document, _ = await _cached("discovery", issuer, fetch)
    return document


async def _fetch_jwks(jwks_uri: str) -> dict:
    document, _ = await get_json(jwks_uri)
    try:
        KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ProviderUnavailable(f"{jwks_uri} is not a usable JWK set ({exc})") from exc
    return document


async def jwks(issuer: str | None = None, *, force: bool = False) -> KeySet:
    """Return the provider's signing keys."""
    return await _jwks_of(await discovery(issuer), force=force)


async def _jwks_of(metadata: dict, *, force: bool = False, reread: bool = False) -> KeySet:
    """Return the key set of the shared cache's JWKS entry (``_cached``), parsed once per
    process for each fetch of it (``_parsed``)."""
    issuer = metadata["issuer"]
    document, fetched_at = await _cached(
        "jwks", issuer, lambda: _fetch_jwks(metadata["jwks_uri"]), force=force, reread=reread
    )
    parsed = _parsed.get(issuer)
    if parsed is None or parsed[0] != fetched_at:
        parsed = _parsed[issuer] = (fetched_at, KeySet.import_key_set(document))
    return parsed[1]


# Issuer -> (when its JWKS entry was fetched, the keys parsed from it): an entry is
# written once per fetch, so the time names its content.
_parsed: dict[str, tuple[float, KeySet]] = {}


async def key_set_for(kid: str | None, metadata: dict) -> KeySet:
    """Return the JWKS of the provider ``metadata`` (its discovery document) describes,
    refetched once (throttled across processes) when ``kid`` is unknown; raise
    InvalidToken when the provider does not publish ``kid``."""
    issuer = metadata["issuer"]
    key_set = await _jwks_of(metadata)
    if kid is None or any(key.kid == kid for key in key_set.keys):
        return key_set
    if await acache("get", _unknown_kid_key(kid, issuer)):
        raise InvalidToken(f"the signing key {kid!r} is not published by the provider")
    # cache.add is atomic in every shared backend: one caller per window refetches.
    if await acache("add", _key("jwks-refetch", issuer), True, JWKS_REFETCH_THROTTLE):
        key_set = await _jwks_of(metadata, force=True)
        if any(key.kid == kid for key in key_set.keys):
            return key_set
    else:
        # Another process refetched: its keys are in the shared cache, not in this
        # process's copy.
        key_set = await _jwks_of(metadata, reread=True)
        if any(key.kid == kid for key in key_set.keys):
            return key_set
    await acache("set", _unknown_kid_key(kid, issuer), True, UNKNOWN_KID_TTL)
    raise InvalidToken(f"the signing key {kid!r} is not published by the provider")
