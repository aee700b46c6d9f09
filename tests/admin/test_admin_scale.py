"""Change lists that cost the same with millions of rows as with a few: a fixed number of
queries whatever the rows shown (no query per row), no list of every organisation in the
filter, no COUNT(*) of a whole large table, and a search by identity without DISTINCT."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, AuditType, ExternalIdentity, Role, User
from organisations.admin import OrganisationFilter
from organisations.models import (
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserApplicationAccess,
    UserFeatureOverride,
)
from tests.admin.kit import sign_in

pytestmark = pytest.mark.django_db

LISTS = (
    "accounts_user",
    "accounts_auditevent",
    "accounts_externalidentity",
    "organisations_userapplicationaccess",
    "organisations_organisationtoolaccess",
    "organisations_userfeatureoverride",
    "organisations_organisationfeatureoverride",
    "organisations_organisation",
)


def add_members(organisation, tool, flag, start, count):
    """Add ``count`` members to ``organisation``, each with an identity, access to
    ``tool``, an override of ``flag`` and an audit event, and the organisation's own
    rows for a new organisation of each member's number."""
    for n in range(start, start + count):
        member = User.objects.create_user(f"m{n}@alpha.example", name=f"M {n}",
                                          organisation=organisation)  # fmt: skip
        ExternalIdentity.objects.create(user=member, issuer="https://idp/", subject=f"idp|{n}")
        UserApplicationAccess.objects.create(user=member, tool=tool)
        UserFeatureOverride.objects.create(flag=flag, user=member, enabled=True)
        AuditEvent.objects.create(type=AuditType.LOGIN_SUCCEEDED, user=member,
                                  organisation=organisation)  # fmt: skip
        other = Organisation.objects.create(name=f"Other {n}", slug=f"other-{n}")
        OrganisationToolAccess.objects.create(organisation=other, tool=tool)
        OrganisationFeatureOverride.objects.create(flag=flag, organisation=other, enabled=True)


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("who", ["super_admin", "organisation_admin"])
def test_lists_run_as_many_queries_for_many_rows_as_for_few(
    who, client, admin_a, super_admin, org_a, tool, flag
):
    sign_in(client, super_admin if who == "super_admin" else admin_a)
    add_members(org_a, tool, flag, 0, 2)
    urls = [reverse(f"admin:{name}_changelist") for name in LISTS]
    if who == "organisation_admin":  # theirs is a 403
        urls.remove(reverse("admin:accounts_externalidentity_changelist"))
    few = {url: len(queries(client, url)) for url in urls}

    add_members(org_a, tool, flag, 2, 30)

    assert {url: len(queries(client, url)) for url in urls} == few


def test_organisation_filter_offers_organisations_only_while_few(as_super_admin, member_a):
    url = reverse("admin:accounts_user_changelist")
    offered = [spec for spec in as_super_admin.get(url).context["cl"].filter_specs
               if isinstance(spec, OrganisationFilter)]  # fmt: skip
    assert [name for _, name in offered[0].lookup_choices] == ["Alpha"]

    Organisation.objects.bulk_create(
        Organisation(name=f"Tenant {n:03}", slug=f"tenant-{n}")
        for n in range(OrganisationFilter.offered)
    )
    executed = queries(as_super_admin, url)
    page = as_super_admin.get(url)

    assert not [spec for spec in page.context["cl"].filter_specs
                if isinstance(spec, OrganisationFilter)]  # fmt: skip
    assert "By organisation" not in page.content.decode()
    assert not [sql for sql in executed if "DISTINCT" in sql.upper()]
    # Chosen through the URL (a link from an organisation), it applies and is shown.
    filtered = as_super_admin.get(url, {"organisation__id__exact": member_a.organisation_id})
    assert list(filtered.context["cl"].result_list) == [member_a]
    shown = [spec for spec in filtered.context["cl"].filter_specs
             if isinstance(spec, OrganisationFilter)]  # fmt: skip
    assert [name for _, name in shown[0].lookup_choices] == ["Alpha"]
    without = as_super_admin.get(url, {"organisation__isnull": "True"})
    assert [user.email for user in without.context["cl"].result_list] == ["root@operators.example"]


def test_organisation_admin_is_offered_only_their_organisation(as_admin_a, org_b):
    page = as_admin_a.get(reverse("admin:accounts_auditevent_changelist"))
    offered = [spec for spec in page.context["cl"].filter_specs
               if isinstance(spec, OrganisationFilter)]  # fmt: skip
    assert [name for _, name in offered[0].lookup_choices] == ["Alpha"]


def test_search_finds_people_by_identity_once_without_distinct(as_super_admin, org_a):
    person = User.objects.create_user("quiet@alpha.example", organisation=org_a)
    for issuer in ("https://one/", "https://two/"):
        ExternalIdentity.objects.create(user=person, issuer=issuer, subject="google|4242")
    User.objects.create_user("google@alpha.example", organisation=org_a, role=Role.ANALYST)
    url = reverse("admin:accounts_user_changelist")

    executed = queries(as_super_admin, f"{url}?q=google%7C4242")
    found = as_super_admin.get(url, {"q": "google|4242"}).context["cl"].result_list

    assert list(found) == [person]
    assert not [sql for sql in executed if "DISTINCT" in sql.upper()]
    by_email = as_super_admin.get(url, {"q": "google"}).context["cl"].result_list
    assert {user.email for user in by_email} == {"google@alpha.example", "quiet@alpha.example"}


@pytest.mark.postgres
def test_a_whole_large_table_is_not_counted_row_by_row(as_super_admin, admin_a, org_a):
    url = reverse("admin:accounts_auditevent_changelist")
    AuditEvent.objects.create(type=AuditType.LOGIN_FAILED)
    few = queries(as_super_admin, url)
    rows = 120_000
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO accounts_auditevent (type, user_agent, details, created_at,
                   organisation_id, user_id)
               SELECT 'token_refreshed', '', '{}', now() - n * interval '1 second', %s, %s
               FROM generate_series(1, %s) n""",
            [org_a.pk, admin_a.pk, rows],
        )
        cursor.execute("ANALYZE accounts_auditevent")
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'accounts_auditevent'::regclass")
        estimate = int(cursor.fetchone()[0])

    executed = queries(as_super_admin, url)
    page = as_super_admin.get(url)

    assert len(executed) == len(few)
    assert not [sql for sql in executed if sql.startswith("SELECT COUNT(*)")]
    assert page.context["cl"].result_count == estimate
    assert len(page.context["cl"].result_list) == 100
    # Searched, the list is counted exactly.
    searched = as_super_admin.get(url, {"q": "admin@alpha"})
    assert searched.context["cl"].result_count == rows
