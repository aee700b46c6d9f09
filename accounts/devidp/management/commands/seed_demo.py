"""``manage.py seed_demo``: the demo tenants, people, access and flags of demo.py, plus an
operator login for the admin.

Idempotent: each row is found by its natural key and only fields that differ from the demo
are written, so a second run changes nothing. Everything happens in one transaction. The
demo has published passwords: the command exists only where this app is installed
(DEBUG=true, or the test settings), and refuses to run with DEBUG off unless ``--force``
is given.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.devidp.demo import DEMO_FLAGS, DEMO_OPERATOR, DEMO_ORGANISATIONS, DEMO_PEOPLE
from accounts.models import Role, User
from organisations.access import setup_organisation_access
from organisations.models import FeatureFlag, Organisation, OrganisationDomain

ADMIN_URL = "http://127.0.0.1:8000/admin/"


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
            organisations = {spec["slug"]: self._organisation(spec) for spec in DEMO_ORGANISATIONS}
            for spec in DEMO_PEOPLE:
                self._person(spec, organisations)
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
        """Get or create the row with ``lookup``, writing only the fields that differ;
        return it."""
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
        """Return the user with this email (in any case), converged to ``values``."""
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

    def _person(self, spec, organisations):
        self._user(
            spec["email"],
            {
                "name": spec["name"],
                "role": spec["role"],
                "organisation": organisations.get(spec["organisation"]),
                "email_verified": True,
                "is_active": True,
                "is_superuser": spec["role"] == Role.SUPER_ADMIN,
            },
        )

    def _operator(self):
        return self._user(
            DEMO_OPERATOR["email"],
            {
                "name": "Demo Operator",
                "role": Role.SUPER_ADMIN,
                "organisation": None,
                "email_verified": True,
                "is_active": True,
                "is_superuser": True,
            },
            password=DEMO_OPERATOR["password"],
        )
