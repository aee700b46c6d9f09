"""What accounts adds to other apps' admin: the members of an organisation, and groups
kept for super admins."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group

from organisations.admin import OrganisationAdmin as BaseOrganisationAdmin
from organisations.models import Organisation
from organisations.roles import is_super_admin

from ..models import User
from .users import ReadOnlyInline


class MemberInline(ReadOnlyInline):
    model = User
    organisation_path = ("organisation_id",)
    fields = ("email", "name", "role", "is_active", "last_login")
    show_change_link = True
    verbose_name = "member"
    verbose_name_plural = "members"


admin.site.unregister(Organisation)


@admin.register(Organisation)
class OrganisationAdmin(BaseOrganisationAdmin):
    """The organisations app's admin with the members listed: that app cannot name the
    user model, so accounts adds them."""

    inlines = [*BaseOrganisationAdmin.inlines, MemberInline]


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Groups grant Django permissions across every organisation: super admins only."""

    def has_module_permission(self, request):
        return is_super_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_super_admin(request.user)

    def has_add_permission(self, request):
        return is_super_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_super_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_super_admin(request.user)
