"""manage.py prune_audit --older-than DAYS: delete audit events older than DAYS days.

The audit trail is append-only for the application; pruning by age is the operator's
retention policy. Deletes in batches so it can run while serving (accounts.pruning)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.pruning import PAUSE, PAUSE_HELP, check_batches, old_audit_events, prune_audit


class Command(BaseCommand):
    help = "Delete audit events older than --older-than DAYS days."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--pause", type=float, default=PAUSE, help=PAUSE_HELP)

    def handle(self, *args, older_than, dry_run, batch_size, pause, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        check_batches(batch_size, pause)
        cutoff = timezone.now() - timedelta(days=older_than)
        when = f"{cutoff:%Y-%m-%d %H:%M} UTC"
        if dry_run:
            count = old_audit_events(cutoff).count()
            self.stdout.write(f"{count} audit event(s) older than {when} would be deleted.")
            return
        deleted = prune_audit(cutoff, batch_size, pause)
        self.stdout.write(f"Deleted {deleted} audit event(s) older than {when}.")
