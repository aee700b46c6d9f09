"""Helpers shared by the token tests."""

import json

from asgiref.sync import async_to_sync
from django.conf import settings

from accounts import tokens
from tests.asgi_client import sync_client_class

ISSUER = "http://testserver"
FRONTEND = "http://localhost:5173"


def issue_pair(user, session_key=""):
    """A fresh family and pair, the way /api/v1/auth/token makes them."""
    return async_to_sync(tokens.aissue_token_pair)(user, issuer=ISSUER, session_key=session_key)


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
