"""The whole login, token and logout path over real HTTP against uvicorn."""

import asyncio
from urllib.parse import urlencode

import httpx2

FRONTEND = "http://localhost:5173"


async def login(http: httpx2.AsyncClient, sub: str, **params) -> httpx2.Response:
    started = await http.get("/auth/login", params=params)
    assert started.status_code == 302, started.text
    approved = await http.get(started.headers["location"] + "&" + urlencode({"login_hint": sub}))
    assert approved.status_code == 302, approved.text
    return await http.get(approved.headers["location"])


def client(server) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=server.url, timeout=10)


async def test_login_me_token_refresh_logout(live, idp_server):
    async with client(live) as http:
        done = await login(http, "auth0|alice", next="/after")
        assert done.status_code == 302
        assert done.headers["location"] == FRONTEND + "/after"
        me = await http.get("/api/v1/auth/me")
        assert me.status_code == 200
        assert me.json()["organisation"]["name"] == "Acme Analytics"
        csrf = (await http.get("/api/v1/auth/csrf")).json()["csrf_token"]
        unsafe = {"X-CSRFToken": csrf, "Origin": FRONTEND}
        pair = await http.post("/api/v1/auth/token", headers=unsafe)
        assert pair.status_code == 200, pair.text
        tokens = pair.json()
        assert tokens["token_type"] == "Bearer"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with client(live) as other:
            assert (await other.get("/api/v1/auth/me", headers=bearer)).status_code == 200
            rotated = await other.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert rotated.status_code == 200, rotated.text
        out = await http.post("/auth/logout", headers=unsafe)
        assert out.status_code == 200
        assert out.json()["logout_url"].startswith(idp_server.url + "oidc/logout")
        assert (await http.get("/api/v1/auth/me")).status_code == 401


async def test_fifty_concurrent_first_logins_of_one_person(live, idp_server):
    idp_server.provider.add_user("auth0|crowd", email="crowd@example.com", name="Crowd")
    browsers = [client(live) for _ in range(50)]
    try:
        started = await asyncio.gather(*(b.get("/auth/login") for b in browsers))
        approved = await asyncio.gather(
            *(
                b.get(s.headers["location"] + "&" + urlencode({"login_hint": "auth0|crowd"}))
                for b, s in zip(browsers, started, strict=True)
            )
        )
        done = await asyncio.gather(
            *(b.get(a.headers["location"]) for b, a in zip(browsers, approved, strict=True))
        )
        assert [d.status_code for d in done] == [302] * 50, [
            d.text for d in done if d.status_code != 302
        ]
        ids = {(await b.get("/api/v1/auth/me")).json()["id"] for b in browsers}
        assert len(ids) == 1
    finally:
        await asyncio.gather(*(b.aclose() for b in browsers))


async def test_raw_cookie_attributes_under_the_default_policy(e2e_database, idp_server):
    from tests.e2e.conftest import auth0_env
    from tests.e2e.servers import Server

    server = Server(e2e_database, auth0_env(idp_server, COOKIE_PARTITIONED="true"))
    try:
        async with client(server) as http:
            started = await http.get("/auth/login")
            flow_cookie = started.headers["set-cookie"]
            for attribute in ("HttpOnly", "SameSite=None", "Secure", "Partitioned", "Path=/auth/"):
                assert attribute in flow_cookie
            csrf = await http.get("/api/v1/auth/csrf")
            for attribute in ("HttpOnly", "SameSite=None", "Secure", "Partitioned"):
                assert attribute in csrf.headers["set-cookie"]
    finally:
        server.stop()
        server.assert_clean_log()


async def test_cors_preflight_allows_exactly_the_frontend_with_credentials(live):
    async with client(live) as http:
        allowed = await http.options(
            "/api/v1/auth/me",
            headers={"Origin": FRONTEND, "Access-Control-Request-Method": "GET"},
        )
        assert allowed.headers["access-control-allow-origin"] == FRONTEND
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = await http.options(
            "/api/v1/auth/me",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in refused.headers
