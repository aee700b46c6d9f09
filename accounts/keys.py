"""Keys that sign app-issued access tokens: generation, encryption at rest, loading, JWKS.

Algorithms: ``settings.SIGNING_KEY_ALGORITHM`` (ES256 by default; ES256, ES384, RS256 and
PS256 are supported, anything else is refused with ImproperlyConfigured). A new key is
made with the configured algorithm; a change of algorithm takes effect at the next
``manage.py rotate_signing_key``.

Encryption at rest: the private key (its private JWK as JSON) is sealed with AES-256-GCM
under a key derived by HKDF-SHA256 from ``settings.SIGNING_KEY_ENCRYPTION_KEY`` when it is
set, else from ``settings.SECRET_KEY``. The kid is the associated data, so a ciphertext
copied to another row does not open. Changing the secret the key is derived from makes
the existing private keys unreadable: tokens already issued keep verifying (public keys
are stored in clear), but no new token can be signed until ``manage.py
rotate_signing_key`` makes a new key. Set SIGNING_KEY_ENCRYPTION_KEY so that SECRET_KEY
can be rotated on its own.

Publication: the current key, and every retired key until each token it may have
signed has expired (``retired_at + ACCESS_TOKEN_TTL + PUBLISH_LEEWAY``).

Caching: the public key set is a small snapshot in the shared Django cache for
``SNAPSHOT_TTL`` seconds, deleted on rotation, and each process reuses the copy it read
for ``PROCESS_MEMO`` seconds; so every process sees a rotation within a second with a
shared cache, and within ``SNAPSHOT_TTL`` without one. Verification keys are kept per
kid in process memory (a kid always names the same key). Decrypted private keys stay
in this process's memory only, keyed by kid (a kid's key never changes), and never
enter the shared cache.

Under ``without_loading`` (the fast lane) nothing is read from the database: what is
not in the process or the shared cache raises KeysNotLoaded, and the caller leaves the
request to Django's path, which loads it.
"""

import contextvars
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import FETCH_RAISE, Q
from django.utils import timezone
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey

from authsite.db import in_thread

from .models import SigningKey

_GENERATORS = {
    "ES256": lambda: ECKey.generate_key("P-256"),
    "ES384": lambda: ECKey.generate_key("P-384"),
    "RS256": lambda: RSAKey.generate_key(2048),
    "PS256": lambda: RSAKey.generate_key(2048),
}
SUPPORTED_ALGORITHMS = tuple(_GENERATORS)

# Public members per key type: the JWKS is built from these only, so a private member
# can never be published whatever a row holds.
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e")}

# Covers the shared-cache snapshot age (a process may sign with a just-retired key for
# that long), the verifiers' clock leeway, and clock skew between servers.
PUBLISH_LEEWAY = 60
SNAPSHOT_TTL = 10
# A token naming a kid the snapshot lacks reloads it at most this often, so forged kids
# cannot turn every request into a database read.
RELOAD_INTERVAL = 1.0
JWKS_MAX_AGE = 300

SNAPSHOT_CACHE_KEY = "accounts:signing-keys:v1"
_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12

_private_keys: dict[str, Key] = {}
_public_keys: dict[str, "VerificationKey"] = {}
# The snapshot as this process last read it, and until when it may reuse it without
# asking the shared cache (a thread hop): at most PROCESS_MEMO seconds.
PROCESS_MEMO = 1.0
_memo: dict = {"until": 0.0, "snapshot": None}


class SigningKeyUnavailable(Exception):
    """No token can be signed: the current private key does not decrypt."""


class KeysNotLoaded(Exception):
    """Under ``without_loading``: answering needs keys from the database."""


_may_load = contextvars.ContextVar("signing_keys_may_load", default=True)


@contextmanager
def without_loading():
    """Within the block, raise KeysNotLoaded where keys would be read from the database."""
    token = _may_load.set(False)
    try:
        yield
    finally:
        _may_load.reset(token)


def _loading_allowed() -> None:
    if not _may_load.get():
        raise KeysNotLoaded


@dataclass(frozen=True)
class Signer:
    kid: str
    algorithm: str
    key: Key


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: Key


def configured_algorithm() -> str:
    """Return SIGNING_KEY_ALGORITHM; raise ImproperlyConfigured when it is not
    supported."""
    algorithm = settings.SIGNING_KEY_ALGORITHM
    if algorithm not in _GENERATORS:
        raise ImproperlyConfigured(
            f"SIGNING_KEY_ALGORITHM={algorithm!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_ALGORITHMS)}."
        )
    return algorithm


def _encryption_key() -> bytes:
    secret = settings.SIGNING_KEY_ENCRYPTION_KEY or settings.SECRET_KEY
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"authsite",
        info=b"authsite/signing-key-encryption/v1",
    ).derive(secret.encode())


def encrypt_private_key(kid: str, private_jwk: dict) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_encryption_key()).encrypt(
        nonce, json.dumps(private_jwk).encode(), kid.encode()
    )
    return _FORMAT_VERSION + nonce + sealed


def decrypt_private_key(kid: str, blob: bytes) -> dict:
    """Return the private JWK; raise SigningKeyUnavailable when the blob does not open
    with the configured secret."""
    blob = bytes(blob)
    if blob[:1] != _FORMAT_VERSION:
        raise SigningKeyUnavailable(f"Signing key {kid} has an unknown encryption format.")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        plain = AESGCM(_encryption_key()).decrypt(nonce, sealed, kid.encode())
    except InvalidTag:
        raise SigningKeyUnavailable(
            f"Signing key {kid} cannot be decrypted: SIGNING_KEY_ENCRYPTION_KEY (or "
            "SECRET_KEY when it is unset) changed since the key was made. Run "
            "`manage.py rotate_signing_key` to make a new key."
        ) from None
    return json.loads(plain)


def new_signing_key(algorithm: str | None = None) -> SigningKey:
    """Return an unsaved key of the given (else the configured) algorithm; kid = its
    RFC 7638 thumbprint."""
    algorithm = algorithm or configured_algorithm()
    key = _GENERATORS[algorithm]()
    kid = key.thumbprint()
    public_jwk = {**key.as_dict(private=False), "kid": kid, "alg": algorithm, "use": "sig"}
    return SigningKey(
        kid=kid,
        algorithm=algorithm,
        public_jwk=public_jwk,
        private_key_encrypted=encrypt_private_key(kid, key.as_dict(private=True)),
    )


def ensure_current_key() -> SigningKey:
    """Return the current key, making it on first need. Concurrent creators are settled
    by the partial unique constraint signing_key_one_current: the loser reads the
    winner's."""
    current = SigningKey.objects.filter(is_current=True).first()
    if current is not None:
        return current
    candidate = new_signing_key()
    candidate.is_current = True
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        return SigningKey.objects.get(is_current=True)
    clear_caches()
    return candidate


def rotate_signing_key() -> tuple[SigningKey, SigningKey | None]:
    """Make a new key current and retire the current one, in one transaction. Return
    (new, retired or None). A concurrent rotation makes this one fail on the partial
    unique constraint (IntegrityError) rather than leave two current keys."""
    new = new_signing_key()
    new.is_current = True
    now = timezone.now()
    with transaction.atomic():
        retired = SigningKey.objects.select_for_update().filter(is_current=True).first()
        if retired is not None:
            SigningKey.objects.filter(pk=retired.pk).update(is_current=False, retired_at=now)
            retired.is_current, retired.retired_at = False, now
        new.save()
    clear_caches()
    return new, retired


def publication_window() -> timedelta:
    """Return how long a retired key stays published: its tokens may live that long."""
    return timedelta(seconds=settings.ACCESS_TOKEN_TTL + PUBLISH_LEEWAY)


def published_keys():
    """Return the published keys: the current key first, then retired keys still within
    their publication window."""
    return SigningKey.objects.filter(
        Q(is_current=True) | Q(retired_at__gt=timezone.now() - publication_window())
    ).order_by("-is_current", "-created_at")


def clear_caches() -> None:
    """Forget the shared snapshot and this process's keys (after a rotation; in tests)."""
    cache.delete(SNAPSHOT_CACHE_KEY)
    _memo.update(until=0.0, snapshot=None)
    _private_keys.clear()
    _public_keys.clear()


def _load_snapshot() -> dict:
    rows = list(published_keys().values("kid", "algorithm", "public_jwk", "is_current"))
    return {
        "loaded_at": time.time(),
        "current": next((row["kid"] for row in rows if row["is_current"]), None),
        "keys": {row["kid"]: {"alg": row["algorithm"], "jwk": row["public_jwk"]} for row in rows},
    }


async def _asnapshot(reload: bool = False) -> dict:
    now = time.monotonic()
    if not reload and _memo["snapshot"] is not None and now < _memo["until"]:
        return _memo["snapshot"]
    snapshot = None if reload else await cache.aget(SNAPSHOT_CACHE_KEY)
    if snapshot is None:
        _loading_allowed()
        snapshot = await in_thread(_load_snapshot)()
        await cache.aset(SNAPSHOT_CACHE_KEY, snapshot, SNAPSHOT_TTL)
    _memo.update(until=now + PROCESS_MEMO, snapshot=snapshot)
    return snapshot


def _load_private_key(kid: str) -> Key:
    row = (
        SigningKey.objects.only("kid", "private_key_encrypted").fetch_mode(FETCH_RAISE).get(kid=kid)
    )
    return JWKRegistry.import_key(decrypt_private_key(kid, row.private_key_encrypted))


async def asigner() -> Signer:
    """Return the current key with its private half, making it on first need. Raise
    SigningKeyUnavailable when it cannot be decrypted."""
    snapshot = await _asnapshot()
    if snapshot["current"] is None:
        _loading_allowed()
        await in_thread(ensure_current_key)()
        snapshot = await _asnapshot(reload=True)
    kid = snapshot["current"]
    key = _private_keys.get(kid)
    if key is None:
        _loading_allowed()
        key = await in_thread(_load_private_key)(kid)
        _private_keys[kid] = key
    return Signer(kid=kid, algorithm=snapshot["keys"][kid]["alg"], key=key)


async def averification_key(kid) -> VerificationKey | None:
    """Return the published key named by kid, or None (unknown, or past its window).

    A key known to this process is returned without asking anyone (docs/architecture.md,
    "Keys in process memory"); only an unknown kid reads the shared snapshot."""
    if not isinstance(kid, str):
        return None
    known = _public_keys.get(kid)
    if known is not None:
        return known
    snapshot = await _asnapshot()
    if kid not in snapshot["keys"] and time.time() - snapshot["loaded_at"] > RELOAD_INTERVAL:
        snapshot = await _asnapshot(reload=True)
    entry = snapshot["keys"].get(kid)
    if entry is None:
        return None
    key = JWKRegistry.import_key(public_members(entry["jwk"]))
    _public_keys[kid] = VerificationKey(kid=kid, algorithm=entry["alg"], key=key)
    return _public_keys[kid]


def holds_verification_key(kid: str) -> bool:
    """Return whether this process holds the key named by kid (``averification_key``
    gave it, and no ``clear_caches`` has run since)."""
    return kid in _public_keys


def public_members(jwk: dict) -> dict:
    """Return only the public members of a JWK, plus kid, alg and use."""
    names = (*_PUBLIC_MEMBERS.get(jwk.get("kty"), ()), "kid", "alg", "use")
    return {name: jwk[name] for name in names if name in jwk}


async def ajwks() -> dict:
    """Return the JSON Web Key Set: current key first, then retired keys still
    published."""
    snapshot = await _asnapshot()
    return {"keys": [public_members(entry["jwk"]) for entry in snapshot["keys"].values()]}
