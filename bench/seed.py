"""Seed the bench database and mint tokens with the project's own code.

    DJANGO_SETTINGS_MODULE=authsite.settings python -m bench.seed --out seed.json \
        [--users 1000] [--refresh 20000] [--burst 4]

Writes one organisation (with the migrations' default tools granted), ``--users``
members with application access, the demo's feature flags (``FLAGS``), and then:

- ``access_tokens``: one app access token per member, minted by
  ``tests.tokens.kit.aissue_token_pair`` (a family, a refresh token and an audit row per
  grant, exactly as POST /api/v1/auth/token makes them);
- ``refresh_tokens``: ``--refresh`` fresh refresh tokens, each the first of its own
  family, spread over the members. They are bulk-inserted (``issue_grant`` one by one
  would take a minute for 20,000) with the project's ``hash_token`` and the same
  fields ``issue_grant`` writes, less its audit row, which rotation never reads;
- ``burst_tokens``: ``--burst`` more, each to be presented 64 times at once.

The JSON file is the only output; the caller reads it and never imports Django.
"""

import argparse
import asyncio
import json
import os
import sys
from datetime import timedelta

ISSUER = "http://127.0.0.1"
ORGANISATION = {
    "slug": "bench",
    "name": "Bench Analytics",
    "auth0_org_id": "org_bench",
    "subscription_plan": "enterprise",
}
# The demo's flags (accounts/devidp/demo.py), which the bench, running with DEBUG=false,
# cannot import.
FLAGS = [
    {"key": "new_dashboard", "name": "New dashboard", "enabled": True, "rollout_percentage": 100},
    {"key": "beta_exports", "name": "Beta exports", "enabled": True, "rollout_percentage": 50},
    {"key": "ai_insights", "name": "AI insights", "enabled": False, "rollout_percentage": 0},
]


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    import django

    django.setup()


def seed_tenant(users: int):
    """The organisation, its members, their access and the flags; returns the members."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from accounts.models import Role, User
    from organisations.access import setup_organisation_access
    from organisations.models import FeatureFlag, Organisation

    with transaction.atomic():
        organisation = Organisation.objects.create(**ORGANISATION)
        unusable = make_password(None)
        User.objects.bulk_create(
            User(
                email=f"member{i}@bench.example",
                name=f"Bench Member {i}",
                email_verified=True,
                role=Role.VIEWER,
                organisation=organisation,
                password=unusable,
            )
            for i in range(users)
        )
        for flag in FLAGS:
            FeatureFlag.objects.create(**flag)
        setup_organisation_access(organisation)
    return list(User.objects.filter(organisation=organisation).select_related("organisation"))


async def mint_access_tokens(members) -> list[str]:
    from tests.tokens.kit import aissue_token_pair

    return [(await aissue_token_pair(user, issuer=ISSUER))["access_token"] for user in members]


def mint_refresh_tokens(members, count: int) -> list[str]:
    """``count`` fresh refresh tokens, each the first of a new family."""
    import secrets

    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import RefreshToken, TokenFamily
    from accounts.tokens.base import hash_token

    now = timezone.now()
    expires = now + timedelta(seconds=settings.REFRESH_TOKEN_TTL)
    plaintexts = [secrets.token_urlsafe(32) for _ in range(count)]
    families = [TokenFamily(user=members[i % len(members)]) for i in range(count)]
    with transaction.atomic():
        TokenFamily.objects.bulk_create(families, batch_size=5000)
        RefreshToken.objects.bulk_create(
            (
                RefreshToken(family=family, token_hash=hash_token(plain), expires_at=expires)
                for family, plain in zip(families, plaintexts, strict=True)
            ),
            batch_size=5000,
        )
    return plaintexts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--refresh", type=int, default=20000)
    parser.add_argument("--burst", type=int, default=4)
    args = parser.parse_args(argv)
    _setup_django()
    members = seed_tenant(args.users)
    access_tokens = asyncio.run(mint_access_tokens(members))
    refresh = mint_refresh_tokens(members, args.refresh + args.burst)
    with open(args.out, "w") as out:
        json.dump(
            {
                "access_tokens": access_tokens,
                "refresh_tokens": refresh[: args.refresh],
                "burst_tokens": refresh[args.refresh :],
            },
            out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
