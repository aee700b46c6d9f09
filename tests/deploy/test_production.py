"""The production start of docs/operations.md, as an operator runs it: gunicorn with
deploy/gunicorn.conf.py and two uvicorn workers, on PostgreSQL and Redis, with
DEBUG=false, LOG_FORMAT=json and METRICS_TOKEN. A scripted run (logins through the
development identity provider, token pairs, refreshes, replays of spent tokens), then
an outside client scrapes /metrics: its counts agree with the audit trail, add up both
workers, and the log is JSON lines holding none of the tokens issued."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import psycopg
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, free_port, stop_process
from tests.logins import authorize
from tests.processes import child_env

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = "http://localhost:5173"
METRICS_TOKEN = "metrics-token-of-the-production-test"
PEOPLE = 12


class Production:
    """gunicorn as docs/operations.md starts it, its stderr kept in a file."""

    def __init__(self, tmp_path, database: E2EDatabase, env: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = tmp_path / "metrics"
        self.metrics_dir.mkdir()
        self.log = tmp_path / "server.log"
        env = {
            **child_env(tmp_path),
            "DATABASE_URL": database.url,
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **env,
        }
        with self.log.open("w") as sink:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"),
                    *("--bind", f"127.0.0.1:{self.port}", "authsite.asgi:application"),
                ],
                cwd=ROOT,
                env=env,
                stderr=sink,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{self.log.read_text()}")
            time.sleep(0.2)

    def stop(self):
        stop_process(self.process)


@pytest.fixture
def production(tmp_path, idp_server, redis_url):
    idp_server.provider.reset()
    from tests.idp import seed

    seed(idp_server.provider)
    database = E2EDatabase(f"authsite_production_{os.getpid()}")
    env = auth0_env(
        idp_server,
        DEBUG="false",
        SECRET_KEY="production-test-secret-key-0123456789abcdefghijklmnop",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CACHE_URL=redis_url,
        LOG_FORMAT="json",
        METRICS_TOKEN=METRICS_TOKEN,
        # A plain HTTP client follows the cookies of a same-site deployment.
        COOKIE_SAMESITE="Lax",
        COOKIE_SECURE="false",
        # Any second presentation of a spent token is a replay, not a retry.
        REFRESH_REUSE_GRACE="0",
    )
    server = Production(tmp_path, database, env)
    yield server, database
    server.stop()
    database.drop()
    idp_server.provider.reset()


async def _one_person(url: str) -> list[str]:
    """Log in, take a token pair, rotate it on a new connection, then replay the spent
    token on another; return the tokens issued."""
    async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
        started = await http.get("/auth/login")
        assert started.status_code == 302, started.text
        done = await http.get(await authorize(started.headers["location"], "auth0|alice"))
        assert done.status_code == 302, done.text
        csrf = (await http.get("/api/v1/auth/csrf")).json()["csrf_token"]
        pair = await http.post(
            "/api/v1/auth/token", headers={"X-CSRFToken": csrf, "Origin": FRONTEND}
        )
        assert pair.status_code == 200, pair.text
    spent = {"refresh_token": pair.json()["refresh_token"]}
    async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
        rotated = await http.post("/api/v1/auth/refresh", json=spent)
        assert rotated.status_code == 200, rotated.text
    async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
        replayed = await http.post("/api/v1/auth/refresh", json=spent)
        assert replayed.json()["error"] == "token_reused"
    return [*pair.json().values(), *rotated.json().values()]


async def _run(url: str) -> list[str]:
    issued = await asyncio.gather(*(_one_person(url) for _ in range(PEOPLE)))
    return [str(token) for tokens in issued for token in tokens if len(str(token)) > 20]


def _scrape(url: str, token: str | None = METRICS_TOKEN) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.get(url + "/metrics", headers=headers, timeout=10)


def _samples(response: httpx2.Response) -> dict:
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _audit_counts(database: E2EDatabase) -> dict:
    with psycopg.connect(database.url) as conn:
        rows = conn.execute("SELECT type, count(*) FROM accounts_auditevent GROUP BY type")
        return dict(rows.fetchall())


def test_the_documented_production_start_counts_and_logs_across_two_workers(production):
    server, database = production
    issued = asyncio.run(_run(server.url))

    assert _scrape(server.url, token=None).status_code == 401
    assert _scrape(server.url, token="wrong-" + METRICS_TOKEN).status_code == 401
    # Each scrape comes from whichever worker takes its new connection: all agree.
    scrapes = [_samples(_scrape(server.url)) for _ in range(4)]
    audit = _audit_counts(database)

    expected = {
        ("authsite_logins_started_total", ()): PEOPLE,
        ("authsite_logins_succeeded_total", ()): audit["login_succeeded"],
        ("authsite_refresh_rotations_total", ()): audit["token_refreshed"],
        ("authsite_refresh_reuse_detections_total", ()): audit["token_reused"],
        ("authsite_token_families_revoked_total", (("reason", "reuse"),)): PEOPLE,
    }
    assert audit["login_succeeded"] == audit["token_refreshed"] == audit["token_reused"] == PEOPLE
    for samples in scrapes:
        assert {key: samples.get(key) for key in expected} == expected

    requests = "authsite_http_request_duration_seconds_count"

    def refreshes(handler, status):
        labels = (("handler", handler), ("route", "api/v1/auth/refresh"), ("status", status))
        return scrapes[-1].get((requests, labels), 0)

    # The lane answers the rotations, but a worker's first (Django loads the signing
    # keys); Django refuses every replay.
    assert refreshes("lane", "200") >= 1
    assert refreshes("lane", "200") + refreshes("django", "200") == PEOPLE
    assert refreshes("django", "401") == PEOPLE
    provider_calls = [
        value
        for (name, _), value in scrapes[-1].items()
        if name == "authsite_idp_request_duration_seconds_count"
    ]
    assert PEOPLE in provider_calls  # one code exchange per login

    # Both workers served and counted: each wrote requests to its own file.
    by_worker = {
        path.name: MultiProcessCollector.merge([str(path)])
        for path in server.metrics_dir.glob("histogram_*.db")
    }
    served = {
        name
        for name, metrics in by_worker.items()
        for metric in metrics
        for sample in metric.samples
        if sample.name == requests and sample.value > 0
    }
    assert len(served) >= 2, sorted(by_worker)

    server.stop()
    lines = server.log.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= set(record), record
    log = "\n".join(lines)
    assert [token for token in issued if token in log] == []
    assert "Traceback" not in log
