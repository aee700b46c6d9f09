"""DPoP's cost on refresh (`python -m bench --only dpop`): rotations per second of the
production build (uvicorn, 2 workers on both cores, the fast lane on) for refresh
tokens without DPoP and for tokens of families bound to a DPoP key, each presented with
a proof, in one run, the order alternating every round. A second server of the same
build with FAST_LANE=false gives the plain rotation on Django's own path, where every
DPoP request is answered (the lane declines them), so that the proof's own cost shows
apart from the path's.

Proofs are made before each batch (ES256, a unique jti each, iat fresh, well within
the accepted window), so the client's signing is not what is measured. Bound families
are the seeded ones, bound in the database to the bench's key.

The goal: with DPoP, at least 0.8× the rotations per second without, by the medians.
"""

import json
import secrets
import time
from dataclasses import dataclass, field

from .. import client
from ..servers import start_server
from .base import BOTH_CPUS, Bench, finish, median
from .refresh import RefreshRun, _hashes, _refresh_run

GOAL_RATIO = 0.8
REFRESH = "/api/v1/auth/refresh"
VARIANTS = ("without DPoP", "with DPoP", "without DPoP, Django's path")


@dataclass
class DpopCost:
    labels: dict[str, str]
    runs: dict[str, list[RefreshRun]] = field(default_factory=dict)

    def rate(self, variant: str) -> float:
        return median(run.rate for run in self.runs[variant])

    def cpu_ms(self, variant: str) -> float:
        return median(1000 * run.server_cpu / max(1, run.ok) for run in self.runs[variant])

    def ratio(self) -> float:
        without = self.rate(VARIANTS[0])
        return self.rate(VARIANTS[1]) / without if without else 0.0

    def summary(self) -> list[str]:
        lines = [
            f"{variant}: {self.rate(variant):.0f} rotations/s, "
            f"{self.cpu_ms(variant):.2f} ms server CPU per rotation, p99 "
            f"{median(run.p99_ms for run in self.runs[variant]):.0f} ms, not 200: "
            f"{sum(run.presented - run.ok for run in self.runs[variant])}"
            for variant in VARIANTS
        ]
        lines.append(f"with DPoP / without: {self.ratio():.2f}× (goal ≥ {GOAL_RATIO})")
        return lines


class _Key:
    """The bench's DPoP key: an ES256 key pair, as a browser's WebCrypto key."""

    def __init__(self):
        from joserfc import jwk

        self.private = jwk.ECKey.generate_key("P-256")
        public = self.private.as_dict(private=False)
        self.header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public}
        self.jkt = self.private.thumbprint()

    def proof(self, url: str) -> str:
        from joserfc import jws

        claims = {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": secrets.token_hex(16)}
        return jws.serialize_compact(
            self.header, json.dumps(claims), self.private, algorithms=["ES256"]
        )


def _bind(bench: Bench, tokens: list[str], jkt: str) -> None:
    """Bind the families of seeded refresh tokens to the key ``jkt``."""
    import psycopg

    with psycopg.connect(bench.database_url) as conn:
        conn.execute(
            """UPDATE accounts_tokenfamily SET dpop_jkt = %s WHERE id IN
               (SELECT family_id FROM accounts_refreshtoken WHERE token_hash = ANY(%s))""",
            (jkt, _hashes(tokens)),
        )


def _requests(tokens: list[str], key: _Key | None, url: str) -> list[client.Request]:
    requests = []
    for token in tokens:
        headers = [("Content-Type", "application/json")]
        if key is not None:
            headers.append(("DPoP", key.proof(url)))
        body = json.dumps({"refresh_token": token}).encode()
        requests.append(client.Request("POST", REFRESH, tuple(headers), body))
    return requests


def tokens_needed(settings) -> int:
    """Return how many seeded refresh tokens the scenario presents."""
    warmup = max(50, settings.refresh_batch // 10)
    return len(VARIANTS) * (warmup + settings.runs * settings.refresh_batch)


def measure(bench: Bench) -> DpopCost:
    """Run the scenario (see the module); write its lines to bench/results/dpop.txt and
    return the result."""
    s = bench.settings
    key = _Key()
    servers = {
        "lane": start_server(
            bench.processes, "asgi", {**bench.env, "FAST_LANE": "true"}, workers=2,
            cpus=BOTH_CPUS, name="dpop-asgi",
        ),
        "django": start_server(
            bench.processes, "asgi", {**bench.env, "FAST_LANE": "false"}, workers=2,
            cpus=BOTH_CPUS, name="dpop-asgi-django",
        ),
    }  # fmt: skip
    plan = {
        VARIANTS[0]: (servers["lane"], None),
        VARIANTS[1]: (servers["lane"], key),
        VARIANTS[2]: (servers["django"], None),
    }
    result = DpopCost(
        labels={name: server.label for name, server in servers.items()},
        runs={variant: [] for variant in VARIANTS},
    )

    def run(variant: str, count: int) -> RefreshRun:
        server, signer = plan[variant]
        tokens = bench.take_refresh_tokens(count)
        if signer is not None:
            _bind(bench, tokens, signer.jkt)
        requests = _requests(tokens, signer, server.url + REFRESH)
        return _refresh_run(bench, server, tokens, requests)

    for variant in VARIANTS:  # warm-up: imports, pools, signing key
        run(variant, max(50, s.refresh_batch // 10))
    lines = []
    for n in range(s.runs):
        for variant in VARIANTS if n % 2 == 0 else VARIANTS[::-1]:
            measured = run(variant, s.refresh_batch)
            result.runs[variant].append(measured)
            lines.append(
                f"  dpop round {n + 1}, {variant}: {measured.ok}/{measured.presented} in "
                f"{measured.seconds:.2f} s = {measured.rate:.0f}/s, "
                f"{1000 * measured.server_cpu / max(1, measured.ok):.2f} ms CPU each"
            )
            print(lines[-1], flush=True)
    finish(bench, servers, lines, result.summary(), "dpop.txt")
    return result
