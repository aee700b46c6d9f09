"""Bounded database connections under the documented defaults: one server process holds
at most DB_POOL_MAX_SIZE connections in all (Django's pool and the fast lane's), and a
request that waits past DB_POOL_TIMEOUT for one answers 503 (JSON on the API, the
error page on a login step) instead of hanging or failing with a 500."""

import asyncio
import contextlib
import json
import os
import threading
import time

import httpx2
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, Server

pytestmark = pytest.mark.postgres

BURST = 60
METRICS_TOKEN = "metrics-token-of-the-pool-tests"


@pytest.fixture(scope="module")
def pool_database():
    database = E2EDatabase(f"authsite_pool_{os.getpid()}")
    yield database
    database.drop()


class _ConnectionSampler(threading.Thread):
    """The most connections to ``database`` seen at once, sampled every few ms."""

    def __init__(self, database: E2EDatabase):
        super().__init__(daemon=True)
        self.database = database
        self.peak = 0
        self._stop = threading.Event()

    def run(self):
        with psycopg.connect(self.database._pg_admin, autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                    [self.database.name],
                ).fetchone()
                self.peak = max(self.peak, count)
                time.sleep(0.005)

    def stop(self) -> int:
        self._stop.set()
        self.join()
        return self.peak


def test_a_burst_never_takes_more_connections_than_the_default_pool(pool_database, idp_server):
    assert "DB_POOL_MAX_SIZE" not in os.environ
    refresh_tokens = json.loads(pool_database.run_python("tests.e2e.seed", "pairs", str(BURST)))
    server = Server(pool_database, auth0_env(idp_server))
    sampler = _ConnectionSampler(pool_database)
    sampler.start()

    async def burst():
        async with httpx2.AsyncClient(base_url=server.url, timeout=60) as http:
            refreshes = [
                http.post("/api/v1/auth/refresh", json={"refresh_token": token})
                for token in refresh_tokens
            ]
            sessions = [
                http.get("/api/v1/auth/me", headers={"Cookie": f"sessionid={index:032d}"})
                for index in range(BURST)
            ]
            ready = [http.get("/readyz") for _ in range(BURST)]
            return await asyncio.gather(*refreshes, *sessions, *ready)

    try:
        answers = asyncio.run(burst())
    finally:
        peak = sampler.stop()
        server.stop()
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * BURST + [401] * BURST + [200] * BURST
    assert 1 <= peak <= 10
    server.assert_clean_log()


def test_waiting_past_the_pool_timeout_is_a_503_not_a_hang(pool_database, idp_server):
    """...and the metrics count both waits and both timeouts."""
    env = auth0_env(
        idp_server,
        DB_POOL_MAX_SIZE="1",
        FAST_LANE="false",
        DB_POOL_TIMEOUT="1",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    server = Server(pool_database, env)
    blocker = psycopg.connect(pool_database.url)
    try:
        # Another client holds the session table: the one pooled connection waits on it.
        blocker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")

        async def requests():
            async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
                holder = asyncio.ensure_future(
                    http.get("/api/v1/auth/me", headers={"Cookie": "sessionid=" + "a" * 32})
                )
                await asyncio.sleep(0.5)
                api = await http.get("/api/v1/auth/me", headers={"Cookie": "sessionid=" + "b" * 32})
                login = await http.get("/auth/callback", params={"state": "x" * 43, "code": "c"})
                blocker.rollback()
                scraped = await http.get(
                    "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
                )
                return await holder, api, login, scraped

        holder, api, login, scraped = asyncio.run(requests())
    finally:
        blocker.close()
        server.stop()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.labels.get("pool") == "django"
    }
    assert samples["authsite_db_pool_waits_total"] >= 2
    assert samples["authsite_db_pool_timeouts_total"] == 2
    assert samples["authsite_db_pool_wait_seconds_total"] >= 2
    assert holder.status_code == 401
    assert api.status_code == 503
    assert api.json()["error"] == "service_unavailable"
    assert login.status_code == 503
    assert login.headers["content-type"].startswith("text/html")
    assert "service_unavailable" in login.text


def test_after_the_database_drops_every_connection_no_request_fails(idp_server):
    """What a database restart does to the pools: every connection they hold is broken.
    The next requests get working ones (the lane passes on what it cannot answer)."""
    pool_database = E2EDatabase(f"authsite_restart_{os.getpid()}")
    refresh_tokens = json.loads(pool_database.run_python("tests.e2e.seed", "pairs", "6"))
    server = Server(pool_database, auth0_env(idp_server))
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            for token in refresh_tokens[:3]:
                assert http.post("/api/v1/auth/refresh", json={"refresh_token": token}).is_success
            with psycopg.connect(pool_database._pg_admin, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    [pool_database.name],
                )
            answers = [
                http.post("/api/v1/auth/refresh", json={"refresh_token": token}).status_code
                for token in refresh_tokens[3:]
            ]
            answers.append(http.get("/readyz").status_code)
    finally:
        server.stop()
        pool_database.drop()
    assert answers == [200, 200, 200, 200]
    server.assert_clean_log()


def test_django_s_path_gives_every_connection_back(pool_database, idp_server):
    """With the lane off and a pool of two, a burst mixing the project's database threads
    (Bearer requests), Django's thread-sensitive hops (session cookies), rotations and
    clients that hang up leaves no connection checked out: request after request still
    gets one, and none is left inside a transaction."""
    refresh_tokens = json.loads(pool_database.run_python("tests.e2e.seed", "pairs", "40"))
    env = auth0_env(idp_server, DB_POOL_MAX_SIZE="2", FAST_LANE="false", DB_POOL_TIMEOUT="2")
    server = Server(pool_database, env)

    async def burst():
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
            first = await http.post(
                "/api/v1/auth/refresh", json={"refresh_token": refresh_tokens[0]}
            )
            bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
            mixed = await asyncio.gather(
                *(
                    http.get(path, headers=bearer)
                    for path in ("/api/v1/auth/me", "/api/v1/features") * 10
                ),
                *(
                    http.get("/api/v1/auth/me", headers={"Cookie": f"sessionid={i:032d}"})
                    for i in range(20)
                ),
                *(
                    http.post("/api/v1/auth/refresh", json={"refresh_token": t})
                    for t in refresh_tokens[1:20]
                ),
            )
            async with httpx2.AsyncClient(base_url=server.url, timeout=0.005) as impatient:

                async def hang_up(method, path):
                    with contextlib.suppress(httpx2.TimeoutException):
                        await impatient.request(method, path, headers=bearer)

                # Clients that go away mid-request, some while a thread-sensitive call of
                # the view (issuing a token pair) is still queued.
                await asyncio.gather(
                    *(hang_up("GET", "/api/v1/auth/me") for _ in range(20)),
                    *(hang_up("POST", "/api/v1/auth/token") for _ in range(20)),
                )
            await asyncio.sleep(1)
            after = [await http.get("/api/v1/auth/me", headers=bearer) for _ in range(10)]
            after += [
                await http.get("/api/v1/auth/me", headers={"Cookie": f"sessionid={i:032d}"})
                for i in range(10)
            ]
            return mixed, after

    try:
        mixed, after = asyncio.run(burst())
        with psycopg.connect(pool_database._pg_admin, autocommit=True) as conn:
            in_transaction = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND state LIKE 'idle in transaction%%'",
                [pool_database.name],
            ).fetchone()[0]
    finally:
        server.stop()
    assert [answer.status_code for answer in mixed] == [200] * 20 + [401] * 20 + [200] * 19
    assert [answer.status_code for answer in after] == [200] * 10 + [401] * 10
    assert in_transaction == 0
    server.assert_clean_log()


def test_a_burst_of_browser_sessions_larger_than_the_pool_is_answered(pool_database, idp_server):
    """Cookie requests hold a connection in their own thread (Django reads the session
    there); the access they read next must reuse it, not wait for a second one, or forty
    of them at once would wait on each other until the pool timeout."""
    keys = json.loads(pool_database.run_python("tests.e2e.seed", "sessions", "40"))
    env = auth0_env(idp_server, DB_POOL_MAX_SIZE="2", FAST_LANE="false", DB_POOL_TIMEOUT="3")
    server = Server(pool_database, env)

    async def burst():
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.get(path, headers={"Cookie": f"sessionid={key}"})
                    for key in keys
                    for path in ("/api/v1/auth/me", "/api/v1/features")
                )
            )

    try:
        answers = asyncio.run(burst())
    finally:
        server.stop()
    assert [answer.status_code for answer in answers] == [200] * 80
    server.assert_clean_log()
