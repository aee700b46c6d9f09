"""The admin for people and their identities."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from organisations.admin import OrganisationFilter, TenantScopedAdmin, TenantScopedInline
from organisations.admin.columns import column
from organisations.admin_confirm import Confirmation, confirm_first, counted
from organisations.models import UserApplicationAccess
from organisations.roles import admin_organisation_id, is_super_admin

from ..login.logout import end_all_sessions, sessions_to_end
from ..models import AuditEvent, AuditType, ExternalIdentity, Role, User
from .audit import audit_event
from .sessions import EndSessionMixin, SessionInline


class UserFormMixin:
    """Checks the database also enforces, with messages an operator can act on: emails are
    stored in lower case and unique whatever their case, and every role but super admin
    needs an organisation."""

    def clean_email(self):
        email = self.cleaned_data.get("email")
        if not email:
            return None
        email = User.objects.normalize_email(email).lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("A user with this email already exists.")
        return email

    def clean(self):
        cleaned_data = super().clean()
        role = cleaned_data.get("role", self.instance.role)
        if "organisation" in self.fields:
            organisation = cleaned_data.get("organisation")
        else:
            organisation = self.instance.organisation
        if role and role != Role.SUPER_ADMIN and organisation is None:
            self.add_error(
                "organisation" if "organisation" in self.fields else None,
                "Every role but super admin needs an organisation.",
            )
        return cleaned_data


class UserChangeAdminForm(UserFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class UserCreationAdminForm(UserFormMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name", "role", "organisation")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True


def _signed_out(sessions: int, families: int) -> str:
    return (
        f"they are signed out of {counted(sessions, 'browser session')} and lose "
        f"{counted(families, 'token family', 'token families')} now"
    )


def describe_deactivation(modeladmin, request, queryset) -> Confirmation:
    """Return what ``UserAdmin.deactivate_users`` would do to ``queryset``."""
    people = queryset.filter(is_active=True).exclude(pk=request.user.pk).order_by("email")
    count = people.count()
    notes = []
    if queryset.filter(pk=request.user.pk).exists():
        notes.append("You selected yourself: you are left out, as you cannot deactivate yourself.")
    inactive = queryset.filter(is_active=False).exclude(pk=request.user.pk).count()
    if inactive:
        notes.append(
            f"Already inactive, and left as they are: {counted(inactive, 'person', 'people')}."
        )
    if count:
        summary = (
            f"Deactivate {counted(count, 'person', 'people')}: "
            f"{_signed_out(*sessions_to_end(people))}, and cannot sign in until reactivated."
        )
    else:
        summary = "Nothing to do: none of the selected people can be deactivated."
    return Confirmation("Deactivate people", summary, count, people, notes)


def describe_revocation(modeladmin, request, queryset) -> Confirmation:
    """Return what ``UserAdmin.revoke_sessions_and_tokens`` would do to ``queryset``."""
    people = queryset.exclude(pk=request.user.pk).order_by("email")
    count = people.count()
    notes = []
    if queryset.filter(pk=request.user.pk).exists():
        notes.append("You selected yourself: your own sessions and tokens are left alone.")
    if count:
        summary = (
            f"Sign {counted(count, 'person', 'people')} out everywhere: "
            f"{_signed_out(*sessions_to_end(people))}. They can sign in again."
        )
    else:
        summary = "Nothing to do: your own sessions and tokens are left alone."
    return Confirmation("Revoke sessions and tokens", summary, count, people, notes)


class ReadOnlyInline(TenantScopedInline):
    """Shown to whoever may view the parent; changed only through its own admin page,
    where the change is scoped and audited."""

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ExternalIdentityInline(ReadOnlyInline):
    model = ExternalIdentity
    organisation_path = ("user", "organisation_id")
    fields = ("issuer", "subject", "last_login_at", "created_at")


class ApplicationAccessInline(ReadOnlyInline):
    model = UserApplicationAccess
    fk_name = "user"
    organisation_path = ("user", "organisation_id")
    fields = ("tool", "has_access", "granted_by", "granted_at")
    show_change_link = True


@admin.register(User)
class UserAdmin(EndSessionMixin, TenantScopedAdmin, DjangoUserAdmin):
    """People. Those who come through Auth0 have unusable passwords; super admins may give
    an operator a password for this admin. Organisation admins change only the name, role
    (never super admin) and active status of their own organisation's members. People are
    deactivated only through ``deactivate_users``, which asks first; the form's "active"
    box reactivates."""

    organisation_path = ("organisation_id",)
    organisation_admin_may_edit = True
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = (
        column("email", "Email"),
        "name",
        column("organisation", "Organisation"),
        "role",
        column("is_active", "Active", boolean=True),
        column("last_login", "Last login"),
    )
    list_filter = (
        "role",
        "is_active",
        "email_verified",
        ("organisation", OrganisationFilter),
    )
    list_select_related = ("organisation",)
    search_fields = ("email", "name", "organisation__name")
    ordering = ("email",)
    readonly_fields = ("last_login", "created_at", "updated_at")
    inlines = [ExternalIdentityInline, ApplicationAccessInline, SessionInline]
    actions = ["deactivate_users", "revoke_sessions_and_tokens"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "picture", "email_verified")}),
        ("Organisation and role", {"fields": ("organisation", "role")}),
        (
            "Admin permissions",
            {"fields": ("is_active", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    organisation_admin_fieldsets = (
        (None, {"fields": ("email", "name", "picture", "email_verified")}),
        ("Organisation and role", {"fields": ("organisation", "role", "is_active")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    organisation_admin_readonly_fields = (
        "email",
        "picture",
        "email_verified",
        "organisation",
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "role", "organisation")}),
        ("Password", {"fields": ("usable_password", "password1", "password2")}),
    )

    def has_add_permission(self, request):
        # People arrive through the identity provider; only super admins create accounts
        # by hand, for operators.
        return is_super_admin(request.user)

    def get_search_results(self, request, queryset, search_term):
        """Return the people ``search_fields`` find, and those with an identity whose
        subject contains the search term, through EXISTS: a search along the to-many
        ``identities`` in ``search_fields`` would make the list DISTINCT, comparing every
        column of every match."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            subjects = ExternalIdentity.objects.filter(user=OuterRef("pk"), subject__icontains=term)
            found = found | queryset.filter(Exists(subjects))
        return found, may_have_duplicates

    def get_inlines(self, request, obj):
        # A person being created has no identities or access to show yet.
        return self.inlines if obj is not None else []

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not is_super_admin(request.user):
            return self.organisation_admin_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.is_active:
            # Deactivating ends every session and token, so only the "Deactivate" action,
            # which asks first, does it; the box is there to reactivate someone.
            readonly = (*readonly, "is_active")
        if obj is not None and not is_super_admin(request.user):
            # The email is the identity provider's, and it links logins to accounts; the
            # organisation is the tenant boundary.
            readonly = (*readonly, *self.organisation_admin_readonly_fields)
        return readonly

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not is_super_admin(request.user):
            kwargs["choices"] = [
                (value, label) for value, label in Role.choices if value != Role.SUPER_ADMIN
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not is_super_admin(request.user):
            # The form already refuses these; this holds even if a form change forgets.
            if obj.role == Role.SUPER_ADMIN or obj.is_superuser:
                raise PermissionDenied
            obj.organisation_id = admin_organisation_id(request.user)
        super().save_model(request, obj, form, change)
        if "role" in form.changed_data:
            audit_event(
                request,
                AuditType.ROLE_CHANGED,
                user_id=obj.pk,
                organisation_id=obj.organisation_id,
                old_role=form.initial.get("role") if change else None,
                new_role=obj.role,
            ).save()

    def user_change_password(self, request, id, form_url=""):
        # A password opens this admin's login form: only super admins set one.
        if not is_super_admin(request.user):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(
        description="Deactivate selected users",
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    @confirm_first(describe_deactivation)
    def deactivate_users(self, request, queryset):
        """Deactivate the selected people but the operator, ending their sessions and
        tokens for good; they are refused at their next request (accounts.backends)."""
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, "You cannot deactivate yourself.", messages.WARNING)
        targets = list(
            queryset.filter(is_active=True)
            .exclude(pk=request.user.pk)
            .values_list("pk", "organisation_id")
        )
        with transaction.atomic():
            User.objects.filter(pk__in=[pk for pk, _ in targets]).update(is_active=False)
            # Deactivation ends sessions and tokens for good: reactivating someone must
            # not bring their old sessions back.
            for user in User.objects.filter(pk__in=[pk for pk, _ in targets]):
                end_all_sessions(user, "deactivated")
            AuditEvent.objects.bulk_create(
                audit_event(
                    request,
                    AuditType.USER_DEACTIVATED,
                    user_id=pk,
                    organisation_id=organisation_id,
                )
                for pk, organisation_id in targets
            )
        self.message_user(request, f"Deactivated {len(targets)} user(s).", messages.SUCCESS)

    @admin.action(
        description="Revoke every session and token of selected users",
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    @confirm_first(describe_revocation)
    def revoke_sessions_and_tokens(self, request, queryset):
        """End every session and token of each selected user but the operator
        (accounts.login.logout.end_all_sessions), audited as SESSIONS_REVOKED."""
        users = list(queryset.exclude(pk=request.user.pk))
        if len(users) != queryset.count():
            self.message_user(request, "Your own sessions were left alone.", messages.WARNING)
        with transaction.atomic():
            for user in users:
                end_all_sessions(user, "admin_revoked")
                audit_event(
                    request,
                    AuditType.SESSIONS_REVOKED,
                    user_id=user.pk,
                    organisation_id=user.organisation_id,
                ).save()
        self.message_user(
            request, f"Revoked the sessions and tokens of {len(users)} user(s).", messages.SUCCESS
        )


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(TenantScopedAdmin):
    """Read-only: identities are written by logins, never by hand. A super admin may
    delete one, to unlink it or to delete its user."""

    organisation_path = ("user", "organisation_id")
    list_display = (
        column("subject", "Subject"),
        column("user", "User"),
        column("last_login_at", "Last login"),
    )
    list_filter = ("issuer",)
    list_select_related = ("user",)
    search_fields = ("subject", "user__email")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return is_super_admin(request.user)
