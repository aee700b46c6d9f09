"""The admin for tools, organisations' tool access and members' application access."""

from django.contrib import admin

from ..models import OrganisationToolAccess, Tool, UserApplicationAccess
from ..roles import admin_organisation_id
from .changes import AccessAuditMixin
from .columns import column
from .scoping import OrganisationFilter, TenantScopedAdmin


@admin.register(Tool)
class ToolAdmin(TenantScopedAdmin):
    list_display = (
        "code",
        "name",
        column("is_active", "Active", boolean=True),
        column("is_default", "Default", boolean=True),
        column("default_tier", "Tier"),
    )
    list_filter = ("is_active", "is_default", "default_tier")
    search_fields = ("code", "name", "description")


@admin.register(OrganisationToolAccess)
class OrganisationToolAccessAdmin(AccessAuditMixin, TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    list_display = (
        column("organisation", "Organisation"),
        "tool",
        "enabled",
        "tier",
        column("updated_at", "Updated"),
    )
    list_filter = (
        "tool",
        "enabled",
        "tier",
        ("organisation", OrganisationFilter),
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
    list_display = (
        column("user", "User"),
        column("user__organisation", "Organisation"),
        "tool",
        column("has_access", "Access", boolean=True),
        column("granted_by", "Granted by"),
    )
    list_filter = (
        "tool",
        "has_access",
        ("user__organisation", OrganisationFilter),
    )
    list_select_related = ("user__organisation", "tool", "granted_by")
    # Along the unique (user, tool) index: newest first, an organisation admin's page
    # walked every other organisation's rows to find theirs.
    ordering = ("user", "tool")
    search_fields = ("user__email", "user__name", "tool__code")
    raw_id_fields = ("user",)
    readonly_fields = ("granted_by", "granted_at")

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
