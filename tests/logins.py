"""Drive a login the way a browser does: our /auth/login, the provider's /authorize
(auto-approved with login_hint, over real HTTP), then our /auth/callback."""

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2


async def authorize(authorize_url: str, sub: str) -> str:
    """Ask the provider to approve ``sub``; return the callback URL it redirects to."""
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{authorize_url}&{urlencode({'login_hint': sub})}")
    assert response.status_code == 302, response.text
    return response.headers["location"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


async def start(client, **params):
    response = await client.get("/auth/login", params)
    assert response.status_code == 302, response.content
    return response


async def browser_login(client, sub="auth0|alice", **params):
    """The whole login; returns our callback's response."""
    started = await start(client, **params)
    callback = await authorize(started["Location"], sub)
    return await client.get(path_of(callback))


def query(url: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def replace_claims(**changes):
    """An ID-token hook for the provider (``idp.id_token_hook``): the claims with
    ``changes`` applied, a change of None removing that claim."""

    def hook(claims, header):
        claims = dict(claims)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    return hook
