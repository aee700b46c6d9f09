"""``manage.py seed_demo``: the demo tenants, people, access and flags of accounts/demo.py,
plus an operator login for the admin.

Idempotent: each row is found by its natural key and only fields that differ from the demo
are written, so a second run changes nothing. Everything happens in one transaction. The
demo has published passwords, so the command refuses to run with DEBUG off unless
``--force`` is given.
"""

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q

from accounts.demo import DEMO_FLAGS, DEMO_OPERATOR, DEMO_ORGANISATIONS, DEMO_PEOPLE
from accounts.models import Role, User
from organisations.access import setup_organisation_access
from organisations.models import FeatureFlag, Organisation, OrganisationDomain

ADMIN_URL = "http://127.0.0.1:8000/admin/"

ORGANISATION_ADMINS_GROUP = "Organisation admins"

# What an organisation admin needs for their scoped admin: manage their members,
# their members' application access and feature overrides; view their organisation,
# its tool access, the tools, the flags and their organisation's audit events.
ORGANISATION_ADMIN_PERMISSIONS = {
    "accounts": ["view_user", "change_user", "view_auditevent"],
    "organisations": [
        "add_userapplicationaccess",
        "change_userapplicationaccess",
        "delete_userapplicationaccess",
        "view_userapplicationaccess",
        "add_organisationfeatureoverride",
        "change_organisationfeatureoverride",
        "delete_organisationfeatureoverride",
        "view_organisationfeatureoverride",
        "add_userfeatureoverride",
        "change_userfeatureoverride",
        "delete_userfeatureoverride",
        "view_userfeatureoverride",
        "view_organisation",
        "view_organisationdomain",
        "view_organisationtoolaccess",
        "view_tool",
        "view_featureflag",
    ],
}


class Command(BaseCommand):
    help = "Create or update the demo organisations, people, access and flags (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off (the demo accounts have published passwords).",
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to seed demo data with DEBUG off: the demo operator's password is "
                "published, so this would open the admin of a real deployment. Use "
                "DEBUG=true for development, or --force if you really mean it."
            )
        self.created = self.updated = 0
        with transaction.atomic():
            group = self._organisation_admins_group()
            organisations = {spec["slug"]: self._organisation(spec) for spec in DEMO_ORGANISATIONS}
            for spec in DEMO_PEOPLE:
                self._person(spec, organisations, group)
            operator = self._operator()
            for organisation in organisations.values():
                tools, grants = setup_organisation_access(organisation)
                self.created += len(tools) + grants
            for spec in DEMO_FLAGS:
                self._upsert(FeatureFlag, {"key": spec["key"]}, spec)

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {self.created} row(s) created, {self.updated} updated."
            )
        )
        self.stdout.write(f"Admin:    {ADMIN_URL}")
        self.stdout.write(f"Email:    {operator.email}")
        self.stdout.write(f"Password: {DEMO_OPERATOR['password']}")

    def _upsert(self, model, lookup, values):
        """Get or create the row with ``lookup``; write only the fields that differ."""
        obj, created = model.objects.get_or_create(**lookup, defaults=values)
        if created:
            self.created += 1
            return obj
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.save(update_fields=changed)
            self.updated += 1
        return obj

    def _organisation_admins_group(self):
        query = Q()
        for app_label, codenames in ORGANISATION_ADMIN_PERMISSIONS.items():
            query |= Q(content_type__app_label=app_label, codename__in=codenames)
        permissions = set(Permission.objects.filter(query))
        expected = sum(len(codenames) for codenames in ORGANISATION_ADMIN_PERMISSIONS.values())
        if len(permissions) != expected:
            raise CommandError(
                "Some permissions the organisation admins need do not exist; "
                "run `manage.py migrate` first."
            )
        group, created = Group.objects.get_or_create(name=ORGANISATION_ADMINS_GROUP)
        if created:
            self.created += 1
        if set(group.permissions.all()) != permissions:
            group.permissions.set(permissions)
            if not created:
                self.updated += 1
        return group

    def _organisation(self, spec):
        organisation = self._upsert(
            Organisation,
            {"slug": spec["slug"]},
            {
                "name": spec["name"],
                "auth0_org_id": spec["auth0_org_id"],
                "subscription_plan": spec["subscription_plan"],
                "industry": spec["industry"],
                "is_active": True,
            },
        )
        self._upsert(
            OrganisationDomain,
            {"domain": spec["domain"].lower()},
            {"organisation": organisation, "verified": True},
        )
        return organisation

    def _user(self, email, values, password=None):
        """The user with this email (in any case), converged to ``values``."""
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            self.created += 1
            return User.objects.create_user(email, password, **values)
        changed = [name for name, value in values.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, values[name])
        if password is None and user.has_usable_password():
            user.set_unusable_password()
            changed.append("password")
        elif password is not None and not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(update_fields=changed)
            self.updated += 1
        return user

    def _person(self, spec, organisations, group):
        user = self._user(
            spec["email"],
            {
                "name": spec["name"],
                "role": spec["role"],
                "organisation": organisations.get(spec["organisation"]),
                "email_verified": True,
                "is_active": True,
                "is_staff": spec["role"] in (Role.SUPER_ADMIN, Role.ADMIN),
                "is_superuser": spec["role"] == Role.SUPER_ADMIN,
            },
        )
        if spec["role"] == Role.ADMIN and not user.groups.filter(pk=group.pk).exists():
            user.groups.add(group)
            self.created += 1

    def _operator(self):
        return self._user(
            DEMO_OPERATOR["email"],
            {
                "name": "Demo Operator",
                "role": Role.SUPER_ADMIN,
                "organisation": None,
                "email_verified": True,
                "is_active": True,
                "is_staff": True,
                "is_superuser": True,
            },
            password=DEMO_OPERATOR["password"],
        )
