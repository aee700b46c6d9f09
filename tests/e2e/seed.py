"""Seed an end-to-end database from a subprocess: `python -m tests.e2e.seed pairs N`
creates a new organisation with N users, one token pair each, and prints the refresh
tokens as a JSON list."""

import asyncio
import json
import sys

import django


def pairs(count: int) -> list[str]:
    from accounts.models import User
    from accounts.tokens import aissue_token_pair
    from organisations.models import Organisation

    # A new organisation each call: several tests seed one database.
    slug = f"seeded-{Organisation.objects.count()}"
    organisation = Organisation.objects.create(name="Seeded", slug=slug)
    users = [
        User.objects.create_user(f"user{index}@{slug}.example", organisation=organisation)
        for index in range(count)
    ]

    async def issue():
        return [
            (await aissue_token_pair(user, issuer="http://127.0.0.1"))["refresh_token"]
            for user in users
        ]

    return asyncio.run(issue())


if __name__ == "__main__":
    django.setup()
    command, count = sys.argv[1], int(sys.argv[2])
    if command != "pairs":
        raise SystemExit(f"unknown seed command {command!r}")
    print(json.dumps(pairs(count)))
