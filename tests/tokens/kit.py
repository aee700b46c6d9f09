"""Helpers shared by the token tests."""

import json

from asgiref.sync import async_to_sync
from django.conf import settings

from accounts import keys
from accounts.tokens.access import pair
from accounts.tokens.base import NO_META
from accounts.tokens.refresh import aissue_grant
from tests.asgi_client import sync_client_class

ISSUER = "http://testserver"
FRONTEND = "http://localhost:5173"


async def aissue_token_pair(user, *, issuer: str, session_key: str = "", meta=NO_META) -> dict:
    """A new family and its first pair for ``user``, as the API body of
    /api/v1/auth/token."""
    signer = await keys.asigner()
    grant = await aissue_grant(user, session_key=session_key, meta=meta)
    return pair(grant, issuer=issuer, signer=signer)


def issue_pair(user, session_key=""):
    """A fresh family and pair, the way /api/v1/auth/token makes them."""
    return async_to_sync(aissue_token_pair)(user, issuer=ISSUER, session_key=session_key)


def post_json(client, path, body=None, **extra):
    return client.post(
        path,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        **extra,
    )


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def csrf_client():
    """A client that enforces CSRF as the server does for browsers, and the headers a
    trusted web app sends: its CSRF token and Origin."""
    client = sync_client_class()(enforce_csrf_checks=True)
    token = client.get("/api/v1/auth/csrf").json()["csrf_token"]
    return client, {"HTTP_X_CSRFTOKEN": token, "HTTP_ORIGIN": FRONTEND}


def refresh_cookie(response):
    return response.cookies[settings.REFRESH_COOKIE_NAME]
