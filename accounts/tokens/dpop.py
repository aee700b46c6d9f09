"""DPoP proofs (RFC 9449): verified, their key's thumbprint taken; and this server's
nonces.

joserfc parses the proof, imports its key, verifies the signature and computes the
RFC 7638 thumbprint; the rules of RFC 9449 §4.3 around them are written here. What
needs storage, refusing a ``jti`` seen before, is the caller's (``replay_key`` names it;
accounts.api.dpop keeps it in the shared cache).
"""

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.crypto import salted_hmac
from joserfc import jwk, jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64encode

from .base import TokenError
from .handoff import s256

# Asymmetric algorithms only: never ``none`` nor HS*, whose key would be a shared secret.
ALGORITHMS = ("ES256", "ES384", "EdDSA", "Ed25519")

PROOF_TYPE = "dpop+jwt"

# Longest proof read, in characters: an ES256 proof with ath and nonce is about 600.
PROOF_MAX_LENGTH = 2048

# A proof's iat may lie up to PROOF_MAX_AGE seconds in the past and PROOF_MAX_AHEAD in
# the future (the client's clock running fast); its jti is remembered for both.
PROOF_MAX_AGE = 300
PROOF_MAX_AHEAD = 10
REPLAY_WINDOW = PROOF_MAX_AGE + PROOF_MAX_AHEAD

# A nonce of this server is good for the step it was made in and the next one.
NONCE_STEP = 300

INVALID = "invalid_dpop_proof"
USE_NONCE = "use_dpop_nonce"

# Members of a private or symmetric JWK (RFC 7518 §6); a proof's key must be public.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _ProofAlgorithms(JWSRegistry):
    """joserfc's registry of ALGORITHMS. It names EdDSA as RFC 8037 and DPoP clients
    do, without the warning that RFC 9864 deprecates the name."""

    def get_alg(self, name):
        if name not in ALGORITHMS:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRY = _ProofAlgorithms(algorithms=ALGORITHMS, strict_check_header=False)


@dataclass(frozen=True)
class Proof:
    """A verified proof: the RFC 7638 thumbprint of its key, and its id."""

    jkt: str
    jti: str


def _refused(detail: str) -> TokenError:
    return TokenError(INVALID, detail)


def verify_proof(
    value: str,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce_required: bool = False,
    now: float | None = None,
) -> Proof:
    """Return the proof ``value`` sent with a ``method`` request to ``url`` (this
    server's external URL of the request), or raise TokenError ``invalid_dpop_proof``
    (``use_dpop_nonce`` for a proof that is good but for a live nonce of ours, when
    ``nonce_required``).

    Accepted only as one compact JWS of at most PROOF_MAX_LENGTH characters with:
    ``typ`` exactly dpop+jwt; ``alg`` one of ALGORITHMS; ``jwk`` a public key, which the
    signature verifies with; ``htm`` the method; ``htu`` the URL, scheme, host and port
    normalised, query and fragment ignored; ``iat`` at most PROOF_MAX_AGE seconds old
    and PROOF_MAX_AHEAD ahead; ``jti`` a non-empty string; ``ath`` the hash of
    ``access_token`` when one is presented. The cheap checks come first, then the
    signature, then the nonce."""
    now = time.time() if now is None else now
    if not isinstance(value, str) or not value or len(value) > PROOF_MAX_LENGTH:
        raise _refused(f"The DPoP proof must be one JWT of at most {PROOF_MAX_LENGTH} characters.")
    try:
        obj = jws.extract_compact(value.encode("ascii"), registry=_REGISTRY)
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError, RecursionError):
        raise _refused("The DPoP proof is not a well-formed JWT.") from None
    if not isinstance(claims, dict):
        raise _refused("The DPoP proof's payload is not a JSON object.")
    header = obj.headers()
    if header.get("typ") != PROOF_TYPE:
        raise _refused(f"The DPoP proof's typ must be {PROOF_TYPE}.")
    if header.get("alg") not in ALGORITHMS:
        raise _refused(f"The DPoP proof's alg must be one of {', '.join(ALGORITHMS)}.")
    public_key = header.get("jwk")
    if not isinstance(public_key, dict):
        raise _refused("The DPoP proof's header must carry its public key as jwk.")
    if _PRIVATE_MEMBERS & public_key.keys():
        raise _refused("The DPoP proof's jwk must be a public key.")
    _check_claims(claims, method=method, url=url, access_token=access_token, now=now)
    try:
        key, jkt = _public_key(json.dumps(public_key, sort_keys=True))
        valid = jws.validate_compact(obj, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise _refused("The DPoP proof's signature does not verify with its jwk.")
    if nonce_required and not is_live_nonce(claims.get("nonce"), now):
        raise TokenError(USE_NONCE, "Sign the DPoP proof with the nonce in DPoP-Nonce.")
    return Proof(jkt=jkt, jti=claims["jti"])


@lru_cache(maxsize=1024)
def _public_key(value: str) -> tuple[jwk.Key, str]:
    """Return the public key a JWK (in JSON) states and its RFC 7638 thumbprint, for
    the proofs a client signs with one key; raise ValueError for a private key."""
    key = jwk.import_key(json.loads(value))
    if key.is_private:
        raise ValueError("not a public key")
    return key, key.thumbprint()


def _check_claims(claims: dict, *, method: str, url: str, access_token, now: float) -> None:
    if claims.get("htm") != method:
        raise _refused(f"The DPoP proof's htm must be {method}.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalised_url(htu) != normalised_url(url):
        raise _refused(f"The DPoP proof's htu must be {url}.")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise _refused("The DPoP proof's iat must be a time in seconds.")
    if not now - PROOF_MAX_AGE <= iat <= now + PROOF_MAX_AHEAD:
        raise _refused("The DPoP proof's iat is too old or in the future; make a new proof.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _refused("The DPoP proof must carry a jti.")
    # Neither the hash nor a nonce is a secret: plain comparisons.
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _refused("The DPoP proof's ath must be the hash of the access token.")


def normalised_url(url: str) -> str | None:
    """Return ``url`` as htu compares it: scheme and host in lower case, the scheme's
    default port dropped, the path (``/`` when empty) without query or fragment; None
    for anything but an http(s) URL with a host and no user."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def access_token_hash(access_token: str) -> str:
    """Return the ``ath`` of an access token: base64url SHA-256 of its ASCII."""
    return s256(access_token)


def replay_key(proof: Proof) -> str:
    """Return the cache key remembering a proof's jti for REPLAY_WINDOW seconds."""
    digest = hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
    return f"dpop-jti:{digest}"


def _nonce(step: int) -> str:
    digest = salted_hmac("accounts.tokens.dpop.nonce", str(step), algorithm="sha256").digest()
    return urlsafe_b64encode(digest).decode()


def new_nonce(now: float | None = None) -> str:
    """Return this server's nonce of the current NONCE_STEP: an HMAC of the step under
    SECRET_KEY, so every process makes and accepts the same without sharing state."""
    return _nonce(int((time.time() if now is None else now) // NONCE_STEP))


def is_live_nonce(value, now: float) -> bool:
    """Return whether ``value`` is this server's nonce of the current step or the one
    before."""
    step = int(now // NONCE_STEP)
    return isinstance(value, str) and value in (_nonce(step), _nonce(step - 1))


def challenge(error: str) -> dict[str, str]:
    """Return the headers of a 401 under the DPoP scheme (RFC 9449 §7.1): the
    WWW-Authenticate challenge with ``error`` and the algorithms accepted; with
    DPOP_NONCE, a fresh nonce."""
    headers = {"WWW-Authenticate": f'DPoP error="{error}", algs="{" ".join(ALGORITHMS)}"'}
    if settings.DPOP_NONCE:
        headers["DPoP-Nonce"] = new_nonce()
    return headers
