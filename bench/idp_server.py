"""The local identity provider (accounts.devidp) in a process of its own, for the login
storm: ``--users`` people ``bench|login<i>`` of the bench organisation, ``--personal``
more after them with no organisation (their first login makes a personal one), one
confidential client whose callbacks are any loopback port, and a token endpoint that
waits ``--token-delay`` seconds before it answers.

    python -m bench.idp_server --port 0 --users 200 --personal 0 --token-delay 0.3

Prints ``READY <issuer>`` once it accepts connections. ``POST /_bench/token-delay?seconds=S``
changes the delay between storms (the provider keeps its keys, so the servers' cached
JWKS stays valid). Unlike ``python -m accounts.devidp`` it needs no DEBUG=true: it has
no demo people, only the bench's, and listens on loopback only.
"""

import argparse
import sys
from urllib.parse import parse_qs

from accounts.devidp.provider import Provider
from accounts.devidp.server import base_url, bind, make_server

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret"
LOOPBACK_CALLBACKS = ["http://127.0.0.1:*/auth/callback"]
ORG_ID = "org_bench"
ORG_NAME = "Bench Analytics"


def subject(i: int) -> str:
    return f"bench|login{i}"


class WithDelayControl:
    """The provider's ASGI app plus one control endpoint for the token delay."""

    def __init__(self, provider: Provider):
        self.provider = provider

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/_bench/token-delay":
            query = parse_qs(scope["query_string"].decode())
            self.provider.token_delay = float(query["seconds"][0])
            body = f"{self.provider.token_delay}".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.provider(scope, receive, send)


def provider(users: int, token_delay: float, personal: int = 0) -> Provider:
    idp = Provider()
    for i in range(users):
        idp.add_user(
            subject(i),
            email=f"login{i}@bench.example",
            email_verified=True,
            name=f"Bench Login {i}",
            org_id=ORG_ID,
            org_name=ORG_NAME,
        )
    for i in range(users, users + personal):  # no organisation owns their email's domain
        idp.add_user(subject(i), email=f"login{i}@personal.example", name=f"Bench Login {i}")
    idp.add_client(CLIENT_ID, CLIENT_SECRET, LOOPBACK_CALLBACKS)
    idp.token_delay = token_delay
    return idp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idp_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--personal", type=int, default=0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    idp = provider(args.users, args.token_delay, args.personal)
    sock = bind("127.0.0.1", args.port)
    idp.issuer = base_url("127.0.0.1", sock.getsockname()[1])
    server = make_server(WithDelayControl(idp))
    print(f"READY {idp.issuer}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
