"""The audit trail's admin, and the audit events of changes made through the admin."""

from django.contrib import admin
from django.dispatch import receiver

from organisations.admin import OrganisationFilter, TenantScopedAdmin, access_changed
from organisations.admin.columns import column

from ..login import step_up
from ..models import AuditEvent, AuditType
from ..requestkit import request_meta


def audit_event(request, type, *, user_id=None, organisation_id=None, **details) -> AuditEvent:
    """Return an unsaved audit event for a change an operator made through the admin,
    naming the operator and the ``amr`` and ``acr`` of their login (empty and None for a
    password sign-in)."""
    operator = request.user
    login = request.session.get(step_up.SESSION_KEY) or {}
    meta = request_meta(request)
    return AuditEvent(
        type=type,
        user_id=user_id,
        organisation_id=organisation_id,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={
            "operator_id": operator.pk,
            "operator_email": operator.email,
            "operator_amr": login.get("amr", []),
            "operator_acr": login.get("acr"),
            **details,
        },
    )


@receiver(access_changed, dispatch_uid="accounts.admin.audit.access_change")
def _audit_access_change(sender, request, organisation_id, user_id, details, **kwargs):
    audit_event(
        request,
        AuditType.ACCESS_CHANGED,
        user_id=user_id,
        organisation_id=organisation_id,
        **details,
    ).save()


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdmin):
    """Read-only: the trail is append-only. Organisation admins read their own
    organisation's events."""

    organisation_path = ("organisation_id",)
    list_display = (
        "created_at",
        "type",
        column("user", "User"),
        column("organisation", "Organisation"),
        column("ip", "IP"),
    )
    list_filter = ("type", "created_at", ("organisation", OrganisationFilter))
    list_select_related = ("user", "organisation")
    search_fields = ("user__email",)
    search_help_text = "Search by the email of the person concerned."

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
