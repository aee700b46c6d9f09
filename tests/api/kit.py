"""Helpers shared by the fast lane's tests."""

from asgiref.sync import sync_to_async
from django.db import connection

from accounts.models import Role, User
from accounts.tokens import refresh as refresh_tokens
from organisations.access import setup_organisation_access
from organisations.models import Organisation


def member(slug="acme") -> User:
    """A new member (an analyst) of the organisation ``slug``, made with the default
    tools, with access to them."""
    organisation, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": slug})
    user = User.objects.create_user(
        f"member{User.objects.count()}@{slug}.example", organisation=organisation, role=Role.ANALYST
    )
    setup_organisation_access(organisation)
    return user


amember = sync_to_async(member)


@sync_to_async
def arefresh_token(user) -> str:
    """A refresh token of a new family of ``user``."""
    return refresh_tokens.issue_grant(user).refresh_token


@sync_to_async
def cut_the_lane_s_connections() -> int:
    """What a database restart does to the lane's pooled connections; how many it cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s",
            ["%fast lane"],
        )
        return cursor.fetchone()[0]
