"""Seed an end-to-end database from a subprocess: `python -m tests.e2e.seed pairs N`
creates a new organisation with N users, one token pair each, and prints the refresh
tokens as a JSON list; `sessions N` gives each a logged-in browser session instead and
prints the session keys."""

import asyncio
import json
import sys

import django


def _members(count: int):
    from accounts.models import User
    from organisations.models import Organisation

    # A new organisation each call: several tests seed one database.
    slug = f"seeded-{Organisation.objects.count()}"
    organisation = Organisation.objects.create(name="Seeded", slug=slug)
    return [
        User.objects.create_user(f"user{index}@{slug}.example", organisation=organisation)
        for index in range(count)
    ]


def sessions(count: int) -> list[str]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for user in _members(count):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "accounts.backends.ActiveAccountBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        keys.append(store.session_key)
    return keys


def pairs(count: int) -> list[str]:
    from tests.tokens.kit import aissue_token_pair

    users = _members(count)

    async def issue():
        return [
            (await aissue_token_pair(user, issuer="http://127.0.0.1"))["refresh_token"]
            for user in users
        ]

    return asyncio.run(issue())


if __name__ == "__main__":
    django.setup()
    command, count = sys.argv[1], int(sys.argv[2])
    commands = {"pairs": pairs, "sessions": sessions}
    if command not in commands:
        raise SystemExit(f"unknown seed command {command!r}")
    print(json.dumps(commands[command](count)))
