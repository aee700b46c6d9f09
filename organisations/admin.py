"""The admin for tenants, tools, access and feature flags, scoped to the operator's tenant.

Who may do what (``TenantScopedAdmin``, ``TenantScopedInline``):

- a super admin (role ``super_admin``, or a Django superuser; active) sees and changes
  everything;
- an organisation admin (role ``admin``, active) has their Django model permissions (their
  role's, see ``accounts.backends``), confined to the rows of their own organisation.
  Other organisations' rows are not listed, and their change, delete and history pages
  answer 404 exactly like rows that do not exist. Global rows (tools, flags) and
  organisation-wide settings are at most viewable;
- anyone else gets nothing (the admin site shows them a 403 page).

This app never imports ``accounts``: roles are read as strings from ``request.user``, and
changes to tool or application access are announced through the ``access_changed`` signal,
which ``accounts`` records in its audit trail.
"""

from functools import reduce

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal
from django.http import Http404

from .access import backfill_access, setup_organisation_access
from .admin_confirm import Confirmation, confirm_first, counted
from .models import (
    FeatureFlag,
    Organisation,
    OrganisationDomain,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)
from .roles import admin_organisation_id, is_super_admin

access_changed = Signal()
"""Sent after an operator changes tool or application access in the admin.

The sender is the model class; the arguments are ``request``, ``organisation_id`` (the
organisation concerned), ``user_id`` (the member concerned, or None for organisation-wide
access) and ``details`` (a JSON-serialisable description of the change).
"""


def _scope_foreign_key(db_field, request, kwargs):
    """Offer an organisation admin only their own organisation and its members, so that
    a forged choice fails form validation like any invalid one."""
    organisation_id = admin_organisation_id(request.user)
    if organisation_id is None:
        return
    related = db_field.related_model
    if related is Organisation:
        kwargs["queryset"] = Organisation.objects.filter(pk=organisation_id)
    elif related is get_user_model():
        kwargs["queryset"] = related._default_manager.filter(organisation_id=organisation_id)


def scoped(queryset, request, organisation_path):
    """Everything for a super admin; for an organisation admin only the rows whose
    ``organisation_path`` leads to their organisation (all rows of a model without one);
    nothing for anyone else."""
    if is_super_admin(request.user):
        return queryset
    organisation_id = admin_organisation_id(request.user)
    if organisation_id is None:
        return queryset.none()
    if organisation_path is None:
        return queryset
    return queryset.filter(**{"__".join(organisation_path): organisation_id})


class TenantScopedAdmin(admin.ModelAdmin):
    """A model admin confined to the operator's tenant (see the module docstring).

    ``organisation_path`` is the chain of attributes from a row to the id of the
    organisation it belongs to, for example ``("user", "organisation_id")``; None marks a
    global model, which organisation admins may at most view. ``organisation_admin_may_edit``
    lets organisation admins add, change and delete their own rows, as far as their Django
    permissions allow.
    """

    organisation_path: tuple[str, ...] | None = None
    organisation_admin_may_edit = False

    def _in_scope(self, request, obj) -> bool:
        if obj is None or self.organisation_path is None:
            return True
        return reduce(getattr, self.organisation_path, obj) == admin_organisation_id(request.user)

    def _organisation_admin_may(self, request, obj, allowed) -> bool:
        return (
            admin_organisation_id(request.user) is not None
            and allowed
            and self._in_scope(request, obj)
        )

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request, self.organisation_path)

    def get_object(self, request, object_id, from_field=None):
        """Out of scope and missing look the same: 404, so that typing another
        organisation's ids into the URL reveals nothing (Django would redirect)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} matches the given id.")
        return obj

    def has_module_permission(self, request):
        if is_super_admin(request.user):
            return True
        return self._organisation_admin_may(request, None, super().has_module_permission(request))

    def has_view_permission(self, request, obj=None):
        if is_super_admin(request.user):
            return True
        return self._organisation_admin_may(request, obj, super().has_view_permission(request, obj))

    def has_add_permission(self, request):
        if is_super_admin(request.user):
            return True
        return self._organisation_admin_may(
            request,
            None,
            self.organisation_admin_may_edit and super().has_add_permission(request),
        )

    def has_change_permission(self, request, obj=None):
        if is_super_admin(request.user):
            return True
        return self._organisation_admin_may(
            request,
            obj,
            self.organisation_admin_may_edit and super().has_change_permission(request, obj),
        )

    def has_delete_permission(self, request, obj=None):
        if is_super_admin(request.user):
            return True
        return self._organisation_admin_may(
            request,
            obj,
            self.organisation_admin_may_edit and super().has_delete_permission(request, obj),
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _scope_foreign_key(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantScopedInline(admin.TabularInline):
    """An inline that super admins edit and organisation admins may only view, limited to
    their organisation's rows: their edits go through the scoped model admins."""

    organisation_path: tuple[str, ...] = ()
    extra = 0

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request, self.organisation_path)

    def has_view_permission(self, request, obj=None):
        if is_super_admin(request.user):
            return True
        return admin_organisation_id(request.user) is not None and super().has_view_permission(
            request, obj
        )

    def has_add_permission(self, request, obj):
        return is_super_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_super_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_super_admin(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _scope_foreign_key(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _announce(request, instance, action, **details):
    """Send ``access_changed`` for one OrganisationToolAccess or UserApplicationAccess."""
    if isinstance(instance, UserApplicationAccess):
        organisation_id, user_id = instance.user.organisation_id, instance.user_id
    else:
        organisation_id, user_id = instance.organisation_id, None
    access_changed.send(
        sender=type(instance),
        request=request,
        organisation_id=organisation_id,
        user_id=user_id,
        details={"action": action, "tool": instance.tool.code, **details},
    )


class AccessAuditMixin:
    """Announces every admin change to the access rows this admin manages.

    ``audit_related`` names the relations ``_announce`` reads, loaded up front when a
    whole selection is deleted."""

    audit_related = ("tool",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        _announce(
            request,
            obj,
            "changed" if change else "added",
            fields=sorted(form.changed_data),
        )

    def delete_model(self, request, obj):
        _announce(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.select_related(*self.audit_related):
                _announce(request, obj, "deleted")
            super().delete_queryset(request, queryset)


# --- organisations --------------------------------------------------------------------


def describe_default_access(modeladmin, request, queryset) -> Confirmation:
    """Return what ``OrganisationAdmin.grant_default_tool_access`` would grant the
    organisations of ``queryset`` (``backfill_access`` in a dry run)."""
    organisations = list(queryset.order_by("name"))
    plans = backfill_access([organisation.pk for organisation in organisations], dry_run=True)
    tools = sum(plan.tool_access for plan in plans)
    grants = sum(plan.application_access for plan in plans)
    people = sum(plan.people for plan in plans)
    if tools or grants:
        summary = (
            f"Grant default tool access to {counted(len(organisations), 'organisation')}: "
            f"they gain {counted(tools, 'tool')}, and {counted(people, 'person', 'people')} "
            f"gain access to applications ({counted(grants, 'grant')})."
        )
    else:
        summary = (
            "Nothing to do: the selected organisations already have every default tool, "
            "and their members access to every application."
        )
    return Confirmation(
        "Grant default tool access",
        summary,
        tools + grants,
        [
            f"{organisation}: {counted(plan.tool_access, 'tool')}, "
            f"{counted(plan.people, 'person', 'people')} gain access"
            for organisation, plan in zip(organisations, plans, strict=True)
        ],
    )


class OrganisationDomainForm(forms.ModelForm):
    class Meta:
        model = OrganisationDomain
        fields = ("organisation", "domain", "verified")

    def clean_domain(self):
        # The database stores domains in lower case (a check constraint).
        return self.cleaned_data["domain"].strip().lower()


class OrganisationDomainInline(TenantScopedInline):
    model = OrganisationDomain
    form = OrganisationDomainForm
    organisation_path = ("organisation_id",)


class OrganisationToolAccessInline(TenantScopedInline):
    model = OrganisationToolAccess
    organisation_path = ("organisation_id",)
    fields = ("tool", "enabled", "tier", "features", "limits")


@admin.register(Organisation)
class OrganisationAdmin(TenantScopedAdmin):
    """An organisation admin may view their own organisation; its plan, status, domains
    and tool access are for super admins to change."""

    organisation_path = ("id",)
    list_display = (
        "name",
        "slug",
        "subscription_plan",
        "industry",
        "is_active",
        "auth0_org_id",
        "created_at",
    )
    list_filter = ("subscription_plan", "is_active", "industry")
    search_fields = ("name", "slug", "auth0_org_id", "domains__domain")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    inlines = [OrganisationDomainInline, OrganisationToolAccessInline]
    actions = ["grant_default_tool_access"]

    def has_grant_access_permission(self, request):
        return is_super_admin(request.user)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is OrganisationToolAccess:
            for obj in formset.new_objects:
                _announce(request, obj, "added")
            for obj, fields in formset.changed_objects:
                _announce(request, obj, "changed", fields=sorted(fields))
            for obj in formset.deleted_objects:
                _announce(request, obj, "deleted")

    @admin.action(
        description="Grant default tool access",
        permissions=["grant_access"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    @confirm_first(describe_default_access)
    def grant_default_tool_access(self, request, queryset):
        """Default tool access for each selected organisation, and application access
        for its members, where missing."""
        tools_granted = member_grants = 0
        for organisation in queryset:
            with transaction.atomic():
                tools, grants = setup_organisation_access(organisation)
                if tools or grants:
                    access_changed.send(
                        sender=OrganisationToolAccess,
                        request=request,
                        organisation_id=organisation.pk,
                        user_id=None,
                        details={
                            "action": "granted_default",
                            "tools": [tool.code for tool in tools],
                            "member_grants": grants,
                        },
                    )
            tools_granted += len(tools)
            member_grants += grants
        self.message_user(
            request,
            f"Granted {tools_granted} tool access row(s) and {member_grants} member "
            f"application access row(s) across {len(queryset)} organisation(s).",
            messages.SUCCESS,
        )


@admin.register(OrganisationDomain)
class OrganisationDomainAdmin(TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    form = OrganisationDomainForm
    list_display = ("domain", "organisation", "verified")
    list_filter = ("verified", ("organisation", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("organisation",)
    search_fields = ("domain", "organisation__name")


# --- tools and access -----------------------------------------------------------------


@admin.register(Tool)
class ToolAdmin(TenantScopedAdmin):
    list_display = ("code", "name", "is_active", "is_default", "default_tier")
    list_filter = ("is_active", "is_default", "default_tier")
    search_fields = ("code", "name", "description")


@admin.register(OrganisationToolAccess)
class OrganisationToolAccessAdmin(AccessAuditMixin, TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    list_display = ("organisation", "tool", "enabled", "tier", "updated_at")
    list_filter = (
        "tool",
        "enabled",
        "tier",
        ("organisation", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("organisation", "tool")
    search_fields = ("organisation__name", "organisation__slug", "tool__code")
    readonly_fields = ("created_at", "updated_at")


@admin.register(UserApplicationAccess)
class UserApplicationAccessAdmin(AccessAuditMixin, TenantScopedAdmin):
    """Which member may open which tool. Organisation admins manage their own members'
    access, among the tools their organisation has enabled."""

    organisation_path = ("user", "organisation_id")
    organisation_admin_may_edit = True
    audit_related = ("tool", "user")
    list_display = ("user", "organisation", "tool", "has_access", "granted_by", "granted_at")
    list_filter = (
        "tool",
        "has_access",
        ("user__organisation", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("user__organisation", "tool", "granted_by")
    search_fields = ("user__email", "user__name", "tool__code")
    raw_id_fields = ("user",)
    readonly_fields = ("granted_by", "granted_at")

    @admin.display(ordering="user__organisation__name")
    def organisation(self, obj):
        return obj.user.organisation

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        organisation_id = admin_organisation_id(request.user)
        if db_field.name == "tool" and organisation_id is not None:
            kwargs["queryset"] = Tool.objects.filter(
                organisation_access__organisation_id=organisation_id,
                organisation_access__enabled=True,
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.granted_by = request.user
        super().save_model(request, obj, form, change)


# --- feature flags --------------------------------------------------------------------


class FeatureFlagForm(forms.ModelForm):
    # Mirrors the database's check constraint, with a message a person can act on.
    rollout_percentage = forms.IntegerField(min_value=0, max_value=100, initial=100)

    class Meta:
        model = FeatureFlag
        fields = ("key", "name", "description", "enabled", "rollout_percentage")


class OrganisationFeatureOverrideInline(TenantScopedInline):
    model = OrganisationFeatureOverride
    organisation_path = ("organisation_id",)


class UserFeatureOverrideInline(TenantScopedInline):
    model = UserFeatureOverride
    organisation_path = ("user", "organisation_id")
    raw_id_fields = ("user",)


@admin.register(FeatureFlag)
class FeatureFlagAdmin(TenantScopedAdmin):
    """Flags are global: only super admins change them. Organisation admins see them, with
    their own organisation's overrides, and change those overrides on their own pages."""

    form = FeatureFlagForm
    list_display = ("key", "name", "enabled", "rollout_percentage", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("key", "name", "description")
    readonly_fields = ("created_at", "updated_at")
    inlines = [OrganisationFeatureOverrideInline, UserFeatureOverrideInline]


@admin.register(OrganisationFeatureOverride)
class OrganisationFeatureOverrideAdmin(TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    organisation_admin_may_edit = True
    list_display = ("flag", "organisation", "enabled", "expires_at")
    list_filter = ("flag", "enabled", ("organisation", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("flag", "organisation")
    search_fields = ("flag__key", "organisation__name")


@admin.register(UserFeatureOverride)
class UserFeatureOverrideAdmin(TenantScopedAdmin):
    organisation_path = ("user", "organisation_id")
    organisation_admin_may_edit = True
    list_display = ("flag", "user", "enabled", "expires_at")
    list_filter = ("flag", "enabled", ("user__organisation", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("flag", "user")
    search_fields = ("flag__key", "user__email")
    raw_id_fields = ("user",)
