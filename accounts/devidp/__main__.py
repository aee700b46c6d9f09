"""`python -m accounts.devidp [--host 127.0.0.1] [--port 9000] [--api IDENTIFIER]…`: the
development identity provider, with the demo people of demo.py, the development client
and the APIs named (the development client may get tokens for them by client
credentials). It signs anyone in without a password, so it refuses to start unless DEBUG
is true."""

import argparse
import os
import sys

from .demo import DEMO_ORGANISATIONS, DEMO_PEOPLE, DEV_CLIENT_ID, DEV_CLIENT_SECRET
from .provider import Provider
from .server import base_url, bind, make_server

# django-environ's spellings of true, so DEBUG means the same here as in the settings.
TRUE_STRINGS = ("true", "on", "ok", "y", "yes", "1")
REFUSAL = (
    "Refusing to start: the development identity provider signs anyone in without a "
    "password, so it only runs with DEBUG=true."
)
LOOPBACK_CALLBACKS = [
    "http://127.0.0.1:*/auth/callback",
    "http://localhost:*/auth/callback",
    "http://[::1]:*/auth/callback",
]


def dev_provider(apis: list[str] | None = None) -> Provider:
    """Return a provider with fresh keys, the demo people (verified emails, Auth0
    organisation claims from their demo organisation), the development client and the
    APIs ``apis`` granted to it."""
    provider = Provider()
    organisations = {org["slug"]: org for org in DEMO_ORGANISATIONS}
    for person in DEMO_PEOPLE:
        org = organisations.get(person["organisation"] or "")
        provider.add_user(
            person["sub"],
            email=person["email"],
            email_verified=True,
            name=person["name"],
            org_id=org["auth0_org_id"] if org else None,
            org_name=org["name"] if org else None,
        )
    provider.add_client(DEV_CLIENT_ID, DEV_CLIENT_SECRET, LOOPBACK_CALLBACKS)
    for identifier in apis or ():
        provider.add_api(identifier, [DEV_CLIENT_ID])
    return provider


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accounts.devidp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--api", action="append", default=[], help="an API identifier")
    args = parser.parse_args(argv)
    if os.environ.get("DEBUG", "").strip().lower() not in TRUE_STRINGS:
        print(REFUSAL, file=sys.stderr)
        return 1
    provider = dev_provider(args.api)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror}.", file=sys.stderr)
        return 1
    provider.issuer = base_url(args.host, sock.getsockname()[1])
    print(
        f"Development identity provider on {provider.issuer} "
        f"(client {DEV_CLIENT_ID}, {len(provider.users)} demo people)",
        flush=True,
    )
    make_server(provider).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
