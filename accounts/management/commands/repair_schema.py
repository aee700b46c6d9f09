"""`manage.py repair_schema [--check] [--database ALIAS]`: see accounts/ops/schema/."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from accounts.ops import schema


class Command(BaseCommand):
    help = (
        "Compare the database with its migrations. --check reports the drift and exits 1 "
        "when there is any; without it, apply pending migrations and create what is "
        "missing, never dropping data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Report the drift without changing anything; exit 1 when there is any.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database to inspect and repair (default: %(default)s).",
        )

    def handle(self, *args, check, database, **options):
        try:
            if check:
                self._check(database)
            else:
                self._repair(database)
        except schema.RepairRefused as refused:
            for line in refused.done:
                self.stdout.write(line)
            unchanged = "Nothing else was changed" if refused.done else "Nothing was changed"
            reasons = "".join(f"\n  - {reason}" for reason in refused.reasons)
            raise CommandError(f"{unchanged}; the repair was refused:{reasons}") from refused
        except schema.SchemaRepairError as error:
            raise CommandError(str(error)) from error

    def _check(self, database):
        """Print the drift; exit 1 when there is any, as `makemigrations --check` does."""
        drift = schema.inspect(database)
        if not drift:
            self.stdout.write(
                f"No drift: database '{database}' ({drift.vendor}) matches its migrations."
            )
            return
        self.stdout.write(f"Drift in database '{database}' ({drift.vendor}):")
        for line in drift.lines():
            self.stdout.write(f"  - {line}")
        summary = f"{len(drift.lines())} problem(s) found"
        if refused := len(drift.refusals):
            summary += f"; the repair would refuse {refused} of them (see above)"
        self.stdout.write(f"{summary}; run `manage.py repair_schema` to repair.")
        sys.exit(1)

    def _repair(self, database):
        """Repair the database and print what was done."""
        if not (done := schema.repair(database)):
            self.stdout.write(f"Nothing to repair: database '{database}' matches its migrations.")
            return
        for line in done:
            self.stdout.write(line)
        self.stdout.write(f"Repaired: database '{database}' now matches its migrations.")
