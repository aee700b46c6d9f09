"""An organisation admin of organisation A, logged into the Django admin, tries to reach
organisation B and to escalate; a super admin sees both. Each test asserts what the
operator would see (status, what is listed) and what the database holds afterwards."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEvent, AuditType, Role, User
from organisations.models import (
    OrganisationFeatureOverride,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)
from tests.admin.kit import sign_in

from .formdata import change_form_data

pytestmark = pytest.mark.django_db


def change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def admin_url(obj, view):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[obj.pk])


def listed(response):
    return set(response.context["cl"].result_list)


def test_user_list_shows_only_own_organisation(as_admin_a, admin_a, member_a, member_b):
    response = as_admin_a.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 200
    assert listed(response) == {admin_a, member_a}
    assert member_b.email not in response.content.decode()


def test_filtering_by_other_organisation_lists_nothing(as_admin_a, member_a, member_b, org_b):
    url = reverse("admin:accounts_user_changelist") + f"?organisation__id__exact={org_b.pk}"
    response = as_admin_a.get(url)
    assert response.status_code == 200
    assert listed(response) == set()


def test_other_organisation_objects_are_404_by_id(
    as_admin_a, member_b, access_b, org_override_b, user_override_b, org_b
):
    for obj in (member_b, access_b, org_override_b, user_override_b, org_b):
        for view in ("change", "delete", "history"):
            response = as_admin_a.get(admin_url(obj, view))
            assert response.status_code == 404, (obj, view)


def test_missing_ids_are_also_404(as_admin_a):
    url = reverse("admin:accounts_user_change", args=[999_999])
    assert as_admin_a.get(url).status_code == 404


def test_post_to_other_organisation_user_changes_nothing(as_admin_a, member_b):
    response = as_admin_a.post(
        change_url(member_b), {"name": "Hijacked", "role": Role.ADMIN, "is_active": ""}
    )
    assert response.status_code == 404
    member_b.refresh_from_db()
    assert (member_b.name, member_b.role, member_b.is_active) == ("Member B", Role.VIEWER, True)


def test_delete_of_other_organisation_access_is_refused(as_admin_a, access_b):
    response = as_admin_a.post(admin_url(access_b, "delete"), {"post": "yes"})
    assert response.status_code == 404
    assert UserApplicationAccess.objects.filter(pk=access_b.pk).exists()


def test_bulk_delete_cannot_reach_other_organisation(as_admin_a, access_b):
    response = as_admin_a.post(
        reverse("admin:organisations_userapplicationaccess_changelist"),
        {"action": "delete_selected", "_selected_action": [access_b.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert UserApplicationAccess.objects.filter(pk=access_b.pk).exists()


def test_role_choices_offered_exclude_super_admin(as_admin_a, member_a):
    response = as_admin_a.get(change_url(member_a))
    assert response.status_code == 200
    choices = [value for value, _ in response.context["adminform"].form.fields["role"].choices]
    assert Role.SUPER_ADMIN not in choices
    assert Role.ADMIN in choices


def test_forged_super_admin_role_is_refused(as_admin_a, member_a):
    page = as_admin_a.get(change_url(member_a))
    response = as_admin_a.post(change_url(member_a), change_form_data(page, role=Role.SUPER_ADMIN))
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    member_a.refresh_from_db()
    assert member_a.role == Role.VIEWER
    assert not AuditEvent.objects.filter(type=AuditType.ROLE_CHANGED).exists()


def test_user_cannot_be_moved_to_another_organisation(as_admin_a, member_a, org_a, org_b):
    page = as_admin_a.get(change_url(member_a))
    data = change_form_data(page, organisation=str(org_b.pk), name="Renamed")
    response = as_admin_a.post(change_url(member_a), data)
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.name == "Renamed"
    assert member_a.organisation_id == org_a.pk


def test_organisation_admin_cannot_grant_staff_or_superuser(as_admin_a, member_a):
    page = as_admin_a.get(change_url(member_a))
    data = change_form_data(page, is_staff="on", is_superuser="on", email="x@elsewhere.example")
    response = as_admin_a.post(change_url(member_a), data)
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.is_staff, member_a.is_superuser) == (False, False)
    assert member_a.email == "member@alpha.example"


def test_organisation_admin_promotes_within_organisation_and_it_is_audited(
    as_admin_a, admin_a, member_a, org_a
):
    page = as_admin_a.get(change_url(member_a))
    response = as_admin_a.post(change_url(member_a), change_form_data(page, role=Role.ANALYST))
    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.role == Role.ANALYST
    event = AuditEvent.objects.get(type=AuditType.ROLE_CHANGED)
    assert event.user == member_a
    assert event.organisation == org_a
    assert event.details["old_role"] == Role.VIEWER
    assert event.details["new_role"] == Role.ANALYST
    assert event.details["operator_id"] == admin_a.pk


def test_organisation_admin_cannot_set_passwords_or_add_users(as_admin_a, member_a):
    password_url = reverse("admin:auth_user_password_change", args=[member_a.pk])
    assert as_admin_a.get(password_url).status_code == 403
    assert as_admin_a.get(reverse("admin:accounts_user_add")).status_code == 403


def test_tools_are_read_only(as_admin_a, tool):
    response = as_admin_a.get(change_url(tool))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert b'name="_save"' not in response.content
    response = as_admin_a.post(change_url(tool), {"code": tool.code, "name": "Renamed"})
    assert response.status_code == 403
    assert Tool.objects.get(pk=tool.pk).name == tool.name


def test_global_feature_flag_change_is_refused(as_admin_a, flag):
    response = as_admin_a.post(
        change_url(flag),
        {"key": flag.key, "name": flag.name, "enabled": "", "rollout_percentage": "0"},
    )
    assert response.status_code == 403
    flag.refresh_from_db()
    assert (flag.enabled, flag.rollout_percentage) == (True, 100)


def test_own_organisation_is_view_only(as_admin_a, org_a):
    response = as_admin_a.get(change_url(org_a))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    response = as_admin_a.post(
        change_url(org_a),
        {"name": org_a.name, "slug": org_a.slug, "subscription_plan": "enterprise"},
    )
    assert response.status_code == 403
    org_a.refresh_from_db()
    assert org_a.subscription_plan == "basic"


def test_organisation_list_shows_only_own(as_admin_a, org_a, org_b):
    response = as_admin_a.get(reverse("admin:organisations_organisation_changelist"))
    assert listed(response) == {org_a}


def test_forged_access_for_other_organisation_user_is_refused(as_admin_a, member_b, tool):
    response = as_admin_a.post(
        reverse("admin:organisations_userapplicationaccess_add"),
        {"user": member_b.pk, "tool": tool.pk, "has_access": "on"},
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not UserApplicationAccess.objects.filter(user=member_b).exists()


def test_access_for_own_member_is_granted_and_audited(as_admin_a, admin_a, member_a, tool):
    response = as_admin_a.post(
        reverse("admin:organisations_userapplicationaccess_add"),
        {"user": member_a.pk, "tool": tool.pk, "has_access": "on"},
    )
    assert response.status_code == 302
    access = UserApplicationAccess.objects.get(user=member_a, tool=tool)
    assert access.granted_by == admin_a
    event = AuditEvent.objects.get(type=AuditType.ACCESS_CHANGED)
    assert (event.user, event.organisation_id) == (member_a, member_a.organisation_id)
    assert event.details["tool"] == tool.code


def test_forged_override_for_other_organisation_is_refused(as_admin_a, flag, org_b, member_b):
    response = as_admin_a.post(
        reverse("admin:organisations_organisationfeatureoverride_add"),
        {"flag": flag.pk, "organisation": org_b.pk, "enabled": "on"},
    )
    assert response.status_code == 200
    assert not OrganisationFeatureOverride.objects.exists()
    response = as_admin_a.post(
        reverse("admin:organisations_userfeatureoverride_add"),
        {"flag": flag.pk, "user": member_b.pk, "enabled": "on"},
    )
    assert response.status_code == 200
    assert not UserFeatureOverride.objects.exists()


def test_override_for_own_organisation_is_created(as_admin_a, flag, org_a):
    response = as_admin_a.post(
        reverse("admin:organisations_organisationfeatureoverride_add"),
        {"flag": flag.pk, "organisation": org_a.pk, "enabled": ""},
    )
    assert response.status_code == 302
    assert OrganisationFeatureOverride.objects.get(flag=flag).organisation == org_a


def test_flag_page_shows_only_own_overrides(as_admin_a, flag, org_a, org_override_b):
    OrganisationFeatureOverride.objects.create(flag=flag, organisation=org_a, enabled=False)
    response = as_admin_a.get(change_url(flag))
    assert response.status_code == 200
    shown = {
        form.instance.organisation
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is OrganisationFeatureOverride
        for form in inline.formset.forms
    }
    assert shown == {org_a}


def test_audit_log_shows_only_own_organisation(as_admin_a, member_a, member_b, org_a, org_b):
    own = AuditEvent.objects.create(
        type=AuditType.LOGIN_SUCCEEDED, user=member_a, organisation=org_a
    )
    other = AuditEvent.objects.create(
        type=AuditType.LOGIN_SUCCEEDED, user=member_b, organisation=org_b
    )
    response = as_admin_a.get(reverse("admin:accounts_auditevent_changelist"))
    assert response.status_code == 200
    assert listed(response) == {own}
    assert member_b.email not in response.content.decode()
    assert as_admin_a.get(change_url(other)).status_code == 404


def test_audit_events_are_read_only_even_for_super_admin(as_super_admin, member_a, org_a):
    event = AuditEvent.objects.create(type=AuditType.LOGOUT, user=member_a, organisation=org_a)
    assert as_super_admin.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    assert as_super_admin.get(admin_url(event, "delete")).status_code == 403
    response = as_super_admin.get(change_url(event))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


def test_audit_log_search_by_user_email(as_super_admin, member_a, member_b, org_a, org_b):
    AuditEvent.objects.create(type=AuditType.LOGOUT, user=member_a, organisation=org_a)
    AuditEvent.objects.create(type=AuditType.LOGOUT, user=member_b, organisation=org_b)
    response = as_super_admin.get(
        reverse("admin:accounts_auditevent_changelist") + "?q=member@bravo"
    )
    assert {event.user for event in listed(response)} == {member_b}


def test_super_admin_sees_every_organisation(as_super_admin, admin_a, member_a, member_b):
    response = as_super_admin.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 200
    assert {member_a, member_b, admin_a} <= listed(response)
    assert as_super_admin.get(change_url(member_b)).status_code == 200


def test_super_admin_role_change_is_audited(as_super_admin, super_admin, member_b, org_b):
    page = as_super_admin.get(change_url(member_b))
    response = as_super_admin.post(change_url(member_b), change_form_data(page, role=Role.ADMIN))
    assert response.status_code == 302
    member_b.refresh_from_db()
    assert member_b.role == Role.ADMIN
    event = AuditEvent.objects.get(type=AuditType.ROLE_CHANGED)
    assert (event.user, event.organisation) == (member_b, org_b)
    assert event.details["operator_id"] == super_admin.pk


def test_super_admin_may_make_a_super_admin(as_super_admin, member_b):
    page = as_super_admin.get(change_url(member_b))
    response = as_super_admin.post(
        change_url(member_b), change_form_data(page, role=Role.SUPER_ADMIN)
    )
    assert response.status_code == 302
    member_b.refresh_from_db()
    assert member_b.role == Role.SUPER_ADMIN


def test_role_without_organisation_is_a_form_error(as_super_admin, super_admin):
    page = as_super_admin.get(change_url(super_admin))
    response = as_super_admin.post(
        change_url(super_admin), change_form_data(page, role=Role.VIEWER)
    )
    assert response.status_code == 200
    assert "organisation" in response.context["adminform"].form.errors
    super_admin.refresh_from_db()
    assert super_admin.role == Role.SUPER_ADMIN


def test_super_admin_creates_an_operator_with_a_password(as_super_admin):
    response = as_super_admin.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Operator@Operators.example",
            "name": "New Operator",
            "role": Role.SUPER_ADMIN,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.operator@operators.example")
    assert user.check_password("a-long-enough-passphrase-42")


def test_duplicate_email_in_other_case_is_a_form_error(as_super_admin, member_a):
    response = as_super_admin.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "MEMBER@alpha.example",
            "role": Role.VIEWER,
            "organisation": member_a.organisation_id,
            "usable_password": "false",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="member@alpha.example").count() == 1


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_other_roles_get_the_403_page_everywhere(client, make_staff, org_a, member_a, role):
    sign_in(client, make_staff(f"{role}@alpha.example", org_a, role=role))
    for url in (
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[member_a.pk]),
        reverse("admin:login") + "?next=/admin/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        page = response.content.decode()
        assert "The admin is for organisation admins and super admins" in page
        assert f"whose role is <strong>{role.label}</strong>" in page
        assert 'href="http://localhost:5173/"' in page
        assert "member@alpha.example" not in page
    response = client.post(
        reverse("admin:accounts_user_change", args=[member_a.pk]), {"name": "Changed"}
    )
    assert response.status_code == 403
    member_a.refresh_from_db()
    assert member_a.name == "Member A"


def test_groups_are_for_super_admins_only(as_admin_a, admin_a):
    admin_a.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__endswith="_group")
    )
    assert as_admin_a.get(reverse("admin:auth_group_changelist")).status_code == 403
