"""`manage.py setup_tool_access`: grants what is missing, exactly what the per-member
services would, in a constant number of queries, and nothing more on a second run."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from organisations.access import setup_organisation_access
from organisations.models import (
    Organisation,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)

pytestmark = pytest.mark.django_db


def setup_tool_access(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("setup_tool_access", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def organisation(slug, members=2):
    org = Organisation.objects.create(name=slug.title(), slug=slug)
    for number in range(members):
        get_user_model().objects.create_user(f"person{number}@{slug}.test", organisation=org)
    return org


@pytest.fixture
def tools():
    """The migrations' default tools, one more active default tool, and two that must
    never be granted by default: an inactive default one and an active optional one."""
    extra = Tool.objects.create(code="extra_default", name="Extra", is_default=True)
    Tool.objects.create(code="retired", name="Retired", is_default=True, is_active=False)
    Tool.objects.create(code="optional", name="Optional", is_default=False)
    defaults = set(
        Tool.objects.filter(is_active=True, is_default=True).values_list("pk", flat=True)
    )
    assert extra.pk in defaults
    return defaults


def tool_ids(org):
    return set(org.tool_access.values_list("tool_id", flat=True))


def member_tool_ids(org):
    return {
        user.pk: set(
            UserApplicationAccess.objects.filter(user=user).values_list("tool_id", flat=True)
        )
        for user in org.members.all()
    }


def test_grants_missing_tool_access_and_member_access(tools):
    acme, globex = organisation("acme", members=2), organisation("globex", members=3)
    out, _ = setup_tool_access()
    assert tool_ids(acme) == tool_ids(globex) == tools
    assert all(granted == tools for granted in member_tool_ids(acme).values())
    assert all(granted == tools for granted in member_tool_ids(globex).values())
    defaults = len(tools)
    assert f"acme: {defaults} tool access, {2 * defaults} application access granted" in out
    assert f"globex: {defaults} tool access, {3 * defaults} application access granted" in out
    row = acme.tool_access.get(tool__code="extra_default")
    assert (row.tier, row.enabled) == ("basic", True)


def test_second_run_creates_nothing(tools):
    organisation("acme")
    setup_tool_access()
    counts = OrganisationToolAccess.objects.count(), UserApplicationAccess.objects.count()
    out, _ = setup_tool_access()
    assert (OrganisationToolAccess.objects.count(), UserApplicationAccess.objects.count()) == counts
    assert "acme: nothing missing" in out
    assert "0 tool access and 0 application access rows granted across 0 of" in out


def test_dry_run_writes_nothing_and_reports_what_a_run_would_do(tools):
    organisation("acme", members=2)
    organisation("globex", members=1)
    with CaptureQueriesContext(connection) as queries:
        dry, _ = setup_tool_access("--dry-run")
    assert not [q for q in queries.captured_queries if "INSERT" in q["sql"].upper()]
    assert not OrganisationToolAccess.objects.exists()
    assert not UserApplicationAccess.objects.exists()
    assert "Dry run: nothing was written." in dry
    real, _ = setup_tool_access()
    assert (
        dry.replace("would be granted", "granted").replace(" Dry run: nothing was written.", "")
        == real
    )


def test_organisation_option_limits_the_run_to_one(tools):
    acme, globex = organisation("acme"), organisation("globex")
    out, _ = setup_tool_access("--organisation", "globex")
    assert tool_ids(globex) == tools
    assert not tool_ids(acme)
    assert not any(member_tool_ids(acme).values())
    assert "acme" not in out


def test_unknown_organisation_is_a_clear_error():
    with pytest.raises(CommandError, match="No organisation has the slug 'nobody'"):
        setup_tool_access("--organisation", "nobody")


def test_members_get_only_enabled_access_to_active_tools(tools):
    acme = organisation("acme", members=2)
    switched_off = Tool.objects.get(code="extra_default")
    OrganisationToolAccess.objects.create(organisation=acme, tool=switched_off, enabled=False)
    optional = Tool.objects.get(code="optional")
    OrganisationToolAccess.objects.create(organisation=acme, tool=optional)
    retired = Tool.objects.get(code="retired")
    OrganisationToolAccess.objects.create(organisation=acme, tool=retired)
    setup_tool_access()
    # The disabled row is kept as the admin left it, not re-enabled or duplicated.
    assert not acme.tool_access.get(tool=switched_off).enabled
    assert tool_ids(acme) == tools | {optional.pk, retired.pk}
    expected = (tools - {switched_off.pk}) | {optional.pk}
    assert all(granted == expected for granted in member_tool_ids(acme).values())


def test_revoked_application_access_stays_revoked(tools):
    acme = organisation("acme", members=1)
    person = acme.members.get()
    tool = Tool.objects.get(code="extra_default")
    UserApplicationAccess.objects.create(user=person, tool=tool, has_access=False)
    setup_tool_access()
    assert not UserApplicationAccess.objects.get(user=person, tool=tool).has_access
    assert member_tool_ids(acme)[person.pk] == tools


def test_same_rows_as_the_per_member_services(tools):
    for slug, members in [("acme", 3), ("globex", 0), ("initech", 2)]:
        organisation(slug, members)
    OrganisationToolAccess.objects.create(
        organisation=Organisation.objects.get(slug="initech"),
        tool=Tool.objects.get(code="optional"),
    )

    def rows():
        return (
            set(OrganisationToolAccess.objects.values_list("organisation_id", "tool_id", "tier")),
            set(UserApplicationAccess.objects.values_list("user_id", "tool_id", "has_access")),
        )

    with transaction.atomic():
        for org in Organisation.objects.all():
            setup_organisation_access(org)
        expected = rows()
        transaction.set_rollback(True)
    setup_tool_access()
    assert rows() == expected


def test_queries_do_not_grow_with_organisations_or_members(tools):
    organisation("small", members=1)
    with CaptureQueriesContext(connection) as small:
        setup_tool_access("--organisation", "small")
    for number in range(40):
        organisation(f"org-{number}", members=5)
    with CaptureQueriesContext(connection) as large:
        setup_tool_access()
    assert UserApplicationAccess.objects.count() == 201 * len(tools)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_long_runs_show_progress_on_stderr_and_totals_only(tools):
    Organisation.objects.bulk_create(
        Organisation(name=f"Org {number}", slug=f"org-{number}") for number in range(101)
    )
    out, err = setup_tool_access("--batch-size", "50")
    assert "\r50/101 organisations (49%)" in err
    assert err.endswith("\r101/101 organisations (100%)\n")
    assert out.count("\n") == 1
    assert f"{101 * len(tools):,} tool access and 0 application access rows granted" in out
