"""What the scale bench asks of the project itself, in a process of its own with the
servers' environment (the bench's own process never imports Django):

    python -m bench.scale.django_side prepare --issuer URL --hot N --out prepared.json
    python -m bench.scale.django_side inspect --tokens prepared.json \
        --explain explain.md --out inspected.json

``prepare`` points the hot people's identities at the run's identity provider, and
writes an app access token of each hot person's first (live) family, minted by the
project's code, the plaintexts of the hot people's spendable refresh tokens, and a
signed-in admin session of a super admin and of the bench organisation's admin.

``inspect`` sends one of each measured request through Django's test client, capturing
its SQL: the admin pages' query counts go to ``--out``, and the ``EXPLAIN (ANALYZE,
BUFFERS)`` of every statement to ``--explain`` (writes run in a transaction rolled
back). The lane answers ``/me`` and ``/refresh`` with the SQL Django compiles from the
same querysets (authsite.fastlane.database).
"""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from .rows import plaintext

ISSUER = "http://127.0.0.1"  # what the access tokens name, as bench.seed mints them
SUPER_ADMIN = "root1@operators.example"
ORGANISATION_ADMIN = "admin@bench.example"
ADMIN_PAGES = {
    "super admin, first page": (SUPER_ADMIN, ""),
    "super admin, search": (SUPER_ADMIN, "?q=person1234"),
    "organisation admin, first page": (ORGANISATION_ADMIN, ""),
    "organisation admin, search": (ORGANISATION_ADMIN, "?q=login12"),
}
USERS_LIST = "/admin/accounts/user/"


def family_id(number: int) -> uuid.UUID:
    """Return the id of the data set's family ``number`` (rows.FUNCTIONS' family_uuid)."""
    return uuid.UUID(hashlib.md5(f"bench-scale-family:{number}".encode()).hexdigest())


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    import django

    django.setup()


def _admin_cookies() -> dict[str, str]:
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from tests.admin.kit import sign_in

    cookies = {}
    for email in (SUPER_ADMIN, ORGANISATION_ADMIN):
        client = sign_in(Client(), User.objects.get(email=email))
        cookies[email] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return cookies


async def _access_tokens(users) -> list[str]:
    from accounts import keys
    from accounts.tokens.access import pair
    from accounts.tokens.base import new_grant
    from authsite.db import in_thread

    signer = await keys.asigner()
    grants = await in_thread(lambda: [new_grant(u, family_id(u.pk), "") for u in users])()
    return [pair(grant, issuer=ISSUER, signer=signer)["access_token"] for grant in grants]


def prepare(issuer: str, hot: int) -> dict:
    """Return what the bench presents (see the module)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import ExternalIdentity, User

    ExternalIdentity.objects.filter(user_id__lte=hot, subject__startswith="bench|").update(
        issuer=issuer
    )
    users = list(User.objects.filter(pk__lte=hot).select_related("organisation").order_by("pk"))
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.id FROM accounts_refreshtoken t
               JOIN accounts_tokenfamily f ON f.id = t.family_id
               WHERE f.user_id <= %s AND f.revoked_at IS NULL AND t.used_at IS NULL
                 AND t.revoked_at IS NULL AND t.expires_at > %s ORDER BY t.id""",
            [hot, timezone.now()],
        )
        refresh = [plaintext(token_id) for (token_id,) in cursor.fetchall()]
    return {
        "access_tokens": asyncio.run(_access_tokens(users)),
        "refresh_tokens": refresh,
        "admin_cookies": _admin_cookies(),
    }


def _explain(sql: str, params=()) -> str:
    """Return the plan of ``sql`` as it ran, its writes rolled back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params or None)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def _statements(captured) -> list[str]:
    kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
    return [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith(kinds)]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _login(client) -> None:
    """Log the first hot person in through the provider (a returning login)."""
    start = client.get("/auth/login")
    try:  # the provider approves at once and sends the browser back: a 302
        urllib.request.build_opener(_NoRedirect).open(
            f"{start['Location']}&login_hint=bench%7Clogin0", timeout=10
        )
        raise RuntimeError("the provider did not send the login back")
    except urllib.error.HTTPError as redirect:
        if redirect.code != 302:
            raise RuntimeError(f"the provider answered {redirect.code}") from None
        callback = urlsplit(redirect.headers["Location"])
    answer = client.get(f"{callback.path}?{callback.query}")
    if answer.status_code != 302:
        raise RuntimeError(f"the login callback answered {answer.status_code}")
    return None


def inspect(prepared: dict) -> tuple[dict, list[str]]:
    """Return the admin pages' query counts, and the report of every statement's plan."""
    import time

    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from accounts.pruning import dead_families, dead_refresh_tokens, old_audit_events

    setup_test_environment()  # the test client's host, and the pages' context
    # Every query in this thread, where CaptureQueriesContext sees it (authsite.db).
    settings.ASYNC_DB_THREADS = False
    counts, report = {}, []

    def record(title: str, captured) -> None:
        report.append(f"## {title}\n")
        for sql in _statements(captured):
            report.extend(["```sql", sql, "```", "```", _explain(sql), "```", ""])

    for title, (email, query) in ADMIN_PAGES.items():
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = prepared["admin_cookies"][email]
        client.get(USERS_LIST + query)  # warm: the first request loads what later ones reuse
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(USERS_LIST + query)
            seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{title}: {response.status_code}")
        counts[title] = {"queries": len(captured), "ms_in_process": 1000 * seconds,
                         "rows": len(response.context["cl"].result_list)}  # fmt: skip
        record(f"Admin: people, {title} ({len(captured)} queries)", captured)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {prepared['access_tokens'][0]}"}
    body = json.dumps({"refresh_token": prepared["refresh_tokens"][-1]})
    requests = {
        "GET /api/v1/auth/me (Django's path; the lane runs the same querysets)": lambda: Client(
            HTTP_HOST="127.0.0.1"
        ).get("/api/v1/auth/me", **bearer),
        "POST /api/v1/auth/refresh (a rotation)": lambda: Client(HTTP_HOST="127.0.0.1").post(
            "/api/v1/auth/refresh", body, content_type="application/json"
        ),
        "The login callback, a returning person (with /auth/login before it)": lambda: _login(
            Client(HTTP_HOST="127.0.0.1:8000")
        ),  # a callback the provider accepts
    }
    for title, send in requests.items():
        # Rolled back, so that each statement runs again as it ran, in ``record``.
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            response = send()
            transaction.set_rollback(True)
        if response is not None and response.status_code != 200:
            raise RuntimeError(f"{title}: {response.status_code} {response.content[:200]}")
        record(title, captured)
    now = timezone.now()
    batches = {
        "prune_tokens: a batch of dead families": dead_families(now).order_by("created_at", "pk"),
        "prune_tokens: a batch of expired tokens": dead_refresh_tokens(now).order_by(
            "expires_at", "pk"
        ),
        "prune_audit: a batch of old events": old_audit_events(
            now - timezone.timedelta(days=320)
        ).order_by("created_at", "pk"),
    }
    for title, queryset in batches.items():
        batch = queryset.select_for_update(skip_locked=True).values_list("pk")[:500]
        with transaction.atomic():  # select_for_update compiles only inside one
            sql, params = batch.query.sql_with_params()
        report += [f"## {title}\n", "```sql", sql % params, "```"]
        report += ["```", _explain(sql, params), "```", ""]
    return counts, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale.django_side", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare")
    prep.add_argument("--issuer", required=True)
    prep.add_argument("--hot", type=int, required=True)
    prep.add_argument("--out", required=True)
    look = commands.add_parser("inspect")
    look.add_argument("--tokens", required=True)
    look.add_argument("--explain", required=True)
    look.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    _setup_django()
    if args.command == "prepare":
        with open(args.out, "w") as out:
            json.dump(prepare(args.issuer, args.hot), out)
        return 0
    with open(args.tokens) as tokens:
        counts, report = inspect(json.load(tokens))
    with open(args.explain, "w") as out:
        out.write("\n".join(report))
    with open(args.out, "w") as out:
        json.dump(counts, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
