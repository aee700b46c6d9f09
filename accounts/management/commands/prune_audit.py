"""manage.py prune_audit --older-than DAYS: delete audit events older than DAYS days.

The audit trail is append-only for the application; pruning by age is the operator's
retention policy. Deletes in batches so it can run while serving."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import AuditEvent

BATCH = 5000


class Command(BaseCommand):
    help = "Delete audit events older than --older-than DAYS days."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, older_than, dry_run, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        cutoff = timezone.now() - timedelta(days=older_than)
        when = f"{cutoff:%Y-%m-%d %H:%M} UTC"
        old = AuditEvent.objects.filter(created_at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} audit event(s) older than {when} would be deleted.")
            return
        deleted = 0
        while ids := list(old.order_by("pk").values_list("pk", flat=True)[:BATCH]):
            deleted += AuditEvent.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"Deleted {deleted} audit event(s) older than {when}.")
