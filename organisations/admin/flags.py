"""The admin for feature flags and their overrides."""

from django import forms
from django.contrib import admin

from ..models import FeatureFlag, OrganisationFeatureOverride, UserFeatureOverride
from .columns import column
from .scoping import OrganisationFilter, TenantScopedAdmin, TenantScopedInline


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
    list_display = (
        "key",
        "name",
        "enabled",
        column("rollout_percentage", "Rollout %"),
        column("updated_at", "Updated"),
    )
    list_filter = ("enabled",)
    search_fields = ("key", "name", "description")
    readonly_fields = ("created_at", "updated_at")
    inlines = [OrganisationFeatureOverrideInline, UserFeatureOverrideInline]


@admin.register(OrganisationFeatureOverride)
class OrganisationFeatureOverrideAdmin(TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    organisation_admin_may_edit = True
    list_display = (
        "flag",
        column("organisation", "Organisation"),
        "enabled",
        column("expires_at", "Expires"),
    )
    list_filter = ("flag", "enabled", ("organisation", OrganisationFilter))
    list_select_related = ("flag", "organisation")
    search_fields = ("flag__key", "organisation__name")


@admin.register(UserFeatureOverride)
class UserFeatureOverrideAdmin(TenantScopedAdmin):
    organisation_path = ("user", "organisation_id")
    organisation_admin_may_edit = True
    list_display = ("flag", column("user", "User"), "enabled", column("expires_at", "Expires"))
    list_filter = ("flag", "enabled", ("user__organisation", OrganisationFilter))
    list_select_related = ("flag", "user")
    search_fields = ("flag__key", "user__email")
    raw_id_fields = ("user",)
