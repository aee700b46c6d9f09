"""The admin for organisations and their email domains."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction

from ..access import backfill_access, setup_organisation_access
from ..admin_confirm import Confirmation, confirm_first, counted
from ..models import Organisation, OrganisationDomain, OrganisationToolAccess
from ..roles import is_super_admin
from .changes import access_changed, announce
from .columns import column
from .scoping import OrganisationFilter, TenantScopedAdmin, TenantScopedInline


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


def _to_deactivate(request, queryset):
    """Return the active organisations of ``queryset`` but the operator's own, since
    deactivating it would lock the operator out."""
    return queryset.filter(is_active=True).exclude(pk=request.user.organisation_id)


def describe_organisation_deactivation(modeladmin, request, queryset) -> Confirmation:
    """Return what ``OrganisationAdmin.deactivate_organisations`` would do to
    ``queryset``."""
    organisations = _to_deactivate(request, queryset).order_by("name")
    count = organisations.count()
    notes = []
    if queryset.filter(pk=request.user.organisation_id).exists():
        notes.append(
            "You selected your own organisation: it is left out, as you would lock yourself out."
        )
    inactive = queryset.filter(is_active=False).count()
    if inactive:
        notes.append(
            f"Already inactive, and left as they are: {counted(inactive, 'organisation')}."
        )
    if count:
        people = get_user_model()._default_manager.filter(
            organisation__in=organisations, is_active=True
        )
        summary = (
            f"Deactivate {counted(count, 'organisation')}: every request of their "
            f"{counted(people.count(), 'person', 'people')} is refused from now on, and none "
            "of them can sign in until their organisation is reactivated. Their sessions and "
            "tokens are suspended, not ended: they work again once it is."
        )
    else:
        summary = "Nothing to do: none of the selected organisations can be deactivated."
    return Confirmation("Deactivate organisations", summary, count, organisations, notes)


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
        column("subscription_plan", "Plan"),
        "industry",
        column("is_active", "Active", boolean=True),
        column("auth0_org_id", "Auth0 ID"),
    )
    list_filter = ("subscription_plan", "is_active", "industry")
    search_fields = ("name", "slug", "auth0_org_id", "domains__domain")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    inlines = [OrganisationDomainInline, OrganisationToolAccessInline]
    actions = ["grant_default_tool_access", "deactivate_organisations"]

    def has_grant_access_permission(self, request):
        return is_super_admin(request.user)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.is_active:
            # Deactivating shuts every member out, so only the "Deactivate" action, which
            # asks first, does it; the box is there to reactivate an organisation.
            readonly = (*readonly, "is_active")
        return readonly

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is OrganisationToolAccess:
            for obj in formset.new_objects:
                announce(request, obj, "added")
            for obj, fields in formset.changed_objects:
                announce(request, obj, "changed", fields=sorted(fields))
            for obj in formset.deleted_objects:
                announce(request, obj, "deleted")

    @admin.action(
        description="Grant default tool access",
        permissions=["grant_access"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    @confirm_first(describe_default_access)
    def grant_default_tool_access(self, request, queryset):
        """Grant each selected organisation its default tool access, and its members
        their application access, where missing."""
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

    @admin.action(
        description="Deactivate selected organisations",
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    @confirm_first(describe_organisation_deactivation)
    def deactivate_organisations(self, request, queryset):
        """Deactivate the selected organisations but the operator's own; their members
        are refused at their next request (``accounts.backends``)."""
        if queryset.filter(pk=request.user.organisation_id).exists():
            self.message_user(
                request, "You cannot deactivate your own organisation.", messages.WARNING
            )
        with transaction.atomic():
            organisations = list(_to_deactivate(request, queryset))
            Organisation.objects.filter(pk__in=[org.pk for org in organisations]).update(
                is_active=False
            )
            for organisation in organisations:
                self.log_change(request, organisation, "Deactivated.")
        self.message_user(
            request, f"Deactivated {len(organisations)} organisation(s).", messages.SUCCESS
        )


@admin.register(OrganisationDomain)
class OrganisationDomainAdmin(TenantScopedAdmin):
    organisation_path = ("organisation_id",)
    form = OrganisationDomainForm
    list_display = ("domain", column("organisation", "Organisation"), "verified")
    list_filter = ("verified", ("organisation", OrganisationFilter))
    list_select_related = ("organisation",)
    search_fields = ("domain", "organisation__name")
