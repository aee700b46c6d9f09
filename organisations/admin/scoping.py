"""The base classes that confine a model admin or an inline to the operator's tenant."""

from functools import reduce

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import Http404

from ..models import Organisation
from ..roles import admin_organisation_id, is_super_admin
from .paging import EstimatedCountPaginator


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
    """Return everything for a super admin; for an organisation admin only the rows whose
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
    # Counted once, and estimated for a whole large table: no list counts millions of rows.
    paginator = EstimatedCountPaginator
    show_full_result_count = False

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
        """Return the row, or raise Http404 alike when it is out of scope or missing, so
        that typing another organisation's ids into the URL reveals nothing."""
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


class OrganisationFilter(admin.RelatedFieldListFilter):
    """Filter by organisation, offering the organisations the operator may see while
    they are at most ``offered``: an organisation admin sees theirs; a super admin of
    thousands of tenants finds one through the search box instead of a list no one
    reads, and sees only the one chosen, if any. The choices come from the
    organisations' table (at most ``offered + 1`` rows), never from a DISTINCT over the
    listed rows."""

    offered = 100

    def field_choices(self, field, request, model_admin):
        organisations = scoped(Organisation.objects.order_by("name"), request, ("pk",))
        choices = list(organisations.values_list("pk", "name")[: self.offered + 1])
        if len(choices) <= self.offered:
            return choices
        return list(organisations.filter(pk__in=self.lookup_val or []).values_list("pk", "name"))

    def has_output(self):
        # A filter only Django's list would hide is shown when chosen: hidden, it would
        # not apply.
        return super().has_output() or bool(self.lookup_val or self.lookup_val_isnull)


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
