"""The admin actions operators use: grant default tool access, deactivate users, revoke
every session and token of users."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, AuditType, ExternalIdentity, User
from organisations.models import (
    Organisation,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)
from tests.admin.kit import sign_in

from .formdata import change_form_data

pytestmark = pytest.mark.django_db


def run_action(client, changelist, action, objects):
    """Run ``action`` on ``objects`` from the change list, confirmed (``post=yes``)."""
    return client.post(
        reverse(changelist),
        {"action": action, "_selected_action": [obj.pk for obj in objects], "post": "yes"},
    )


@pytest.fixture
def default_tools(db):
    """The data migration's default tools, whatever earlier tests did to the table."""
    codes = ["market_edge", "causal_edge", "value_edge"]
    for code in codes:
        Tool.objects.update_or_create(
            code=code, defaults={"name": code, "is_active": True, "is_default": True}
        )
    return list(Tool.objects.filter(code__in=codes))


def test_grant_default_tool_access_creates_rows(as_super_admin, default_tools, super_admin):
    bare = Organisation.objects.create(name="Bare", slug="bare")
    member = User.objects.create_user("m@bare.example", organisation=bare)
    response = run_action(
        as_super_admin,
        "admin:organisations_organisation_changelist",
        "grant_default_tool_access",
        [bare],
    )
    assert response.status_code == 302
    granted = set(
        OrganisationToolAccess.objects.filter(organisation=bare).values_list("tool", flat=True)
    )
    assert granted == {tool.pk for tool in default_tools}
    assert UserApplicationAccess.objects.filter(user=member).count() == len(default_tools)
    event = AuditEvent.objects.get(type=AuditType.ACCESS_CHANGED, organisation=bare)
    assert sorted(event.details["tools"]) == sorted(tool.code for tool in default_tools)
    assert event.details["operator_id"] == super_admin.pk

    again = run_action(
        as_super_admin,
        "admin:organisations_organisation_changelist",
        "grant_default_tool_access",
        [bare],
    )
    assert again.status_code == 302
    assert OrganisationToolAccess.objects.filter(organisation=bare).count() == len(default_tools)
    assert AuditEvent.objects.filter(type=AuditType.ACCESS_CHANGED).count() == 1


def test_grant_default_tool_access_is_not_offered_to_organisation_admins(
    as_admin_a, org_a, default_tools
):
    response = as_admin_a.get(reverse("admin:organisations_organisation_changelist"))
    assert response.status_code == 200
    assert b"grant_default_tool_access" not in response.content
    before = OrganisationToolAccess.objects.count()
    run_action(
        as_admin_a,
        "admin:organisations_organisation_changelist",
        "grant_default_tool_access",
        [org_a],
    )
    assert OrganisationToolAccess.objects.count() == before


def test_deactivate_users_sets_inactive_and_audits(as_admin_a, admin_a, member_a, org_a):
    response = run_action(
        as_admin_a, "admin:accounts_user_changelist", "deactivate_users", [member_a]
    )
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.is_active is False
    event = AuditEvent.objects.get(type=AuditType.USER_DEACTIVATED)
    assert (event.user, event.organisation) == (member_a, org_a)
    assert event.details["operator_id"] == admin_a.pk


def test_deactivate_users_cannot_reach_other_organisation(as_admin_a, member_b):
    run_action(as_admin_a, "admin:accounts_user_changelist", "deactivate_users", [member_b])
    member_b.refresh_from_db()
    assert member_b.is_active is True
    assert not AuditEvent.objects.exists()


def test_operator_cannot_deactivate_themselves(as_admin_a, admin_a):
    run_action(as_admin_a, "admin:accounts_user_changelist", "deactivate_users", [admin_a])
    admin_a.refresh_from_db()
    assert admin_a.is_active is True


def test_deactivated_user_is_refused_at_next_request(client, admin_a, as_super_admin):
    other = client.__class__()
    sign_in(other, admin_a)
    assert other.get(reverse("admin:accounts_user_changelist")).status_code == 200
    run_action(as_super_admin, "admin:accounts_user_changelist", "deactivate_users", [admin_a])
    response = other.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_deactivate_from_the_change_form(as_super_admin, member_b):
    response = as_super_admin.post(
        reverse("admin:accounts_user_change", args=[member_b.pk]),
        {
            "CHANGE_FORM-action": "deactivate_users",
            "_selected_action": [member_b.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    member_b.refresh_from_db()
    assert member_b.is_active is False


def test_bulk_delete_of_own_access_is_audited(as_admin_a, member_a, tool):
    access = UserApplicationAccess.objects.create(user=member_a, tool=tool)
    response = as_admin_a.post(
        reverse("admin:organisations_userapplicationaccess_changelist"),
        {"action": "delete_selected", "_selected_action": [access.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not UserApplicationAccess.objects.filter(pk=access.pk).exists()
    event = AuditEvent.objects.get(type=AuditType.ACCESS_CHANGED)
    assert (event.user, event.details["action"], event.details["tool"]) == (
        member_a,
        "deleted",
        tool.code,
    )


def test_tool_access_change_on_organisation_page_is_audited(as_super_admin, org_a, tool):
    url = reverse("admin:organisations_organisation_change", args=[org_a.pk])
    page = as_super_admin.get(url)
    data = change_form_data(page, **{"tool_access-0-tier": "enterprise"})
    response = as_super_admin.post(url, data)
    assert response.status_code == 302
    assert OrganisationToolAccess.objects.get(organisation=org_a, tool=tool).tier == "enterprise"
    event = AuditEvent.objects.get(type=AuditType.ACCESS_CHANGED)
    assert (event.organisation, event.details["action"], event.details["fields"]) == (
        org_a,
        "changed",
        ["tier"],
    )


def test_super_admin_deletes_a_user_with_an_identity(as_super_admin, member_b):
    ExternalIdentity.objects.create(user=member_b, issuer="https://idp.example/", subject="b")
    response = as_super_admin.post(
        reverse("admin:accounts_user_delete", args=[member_b.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=member_b.pk).exists()
    assert not ExternalIdentity.objects.filter(subject="b").exists()


def test_revoke_sessions_and_tokens_ends_everything_of_the_user(as_admin_a, member_a, org_a):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import Client

    from accounts.models import LoginSession, TokenFamily
    from accounts.tokens.refresh import issue_grant

    login_session = SessionStore()
    login_session.create()
    LoginSession.objects.create(session_key=login_session.session_key, user=member_a)
    issue_grant(member_a, session_key=login_session.session_key)
    issue_grant(member_a)
    browser = Client()
    browser.force_login(member_a)
    assert browser.get("/api/v1/auth/me").status_code == 200

    response = run_action(
        as_admin_a, "admin:accounts_user_changelist", "revoke_sessions_and_tokens", [member_a]
    )
    assert response.status_code == 302
    assert not SessionStore().exists(login_session.session_key)
    assert not LoginSession.objects.filter(user=member_a).exists()
    assert not TokenFamily.objects.filter(user=member_a, revoked_at__isnull=True).exists()
    assert browser.get("/api/v1/auth/me").status_code == 401
    event = AuditEvent.objects.get(type=AuditType.SESSIONS_REVOKED)
    assert (event.user, event.organisation) == (member_a, org_a)


def test_revoke_sessions_cannot_reach_another_organisation(as_admin_a, member_b):
    from accounts.models import TokenFamily
    from accounts.tokens.refresh import issue_grant

    issue_grant(member_b)
    run_action(
        as_admin_a, "admin:accounts_user_changelist", "revoke_sessions_and_tokens", [member_b]
    )
    assert TokenFamily.objects.filter(user=member_b, revoked_at__isnull=True).exists()
    assert not AuditEvent.objects.filter(type=AuditType.SESSIONS_REVOKED).exists()


def test_deactivation_ends_sessions_and_tokens_for_good(as_admin_a, member_a):
    """Reactivating someone must not bring their old sessions and tokens back."""
    from django.test import Client

    from accounts.models import TokenFamily
    from accounts.tokens.refresh import issue_grant

    issue_grant(member_a)
    browser = Client()
    browser.force_login(member_a)
    run_action(as_admin_a, "admin:accounts_user_changelist", "deactivate_users", [member_a])
    User.objects.filter(pk=member_a.pk).update(is_active=True)
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert not TokenFamily.objects.filter(user=member_a, revoked_at__isnull=True).exists()
