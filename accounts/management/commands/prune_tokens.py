"""manage.py prune_tokens: delete refresh tokens, token families and login codes that can
never again be presented validly. Safe to run while serving: small batches, each its
own short transaction that never waits on a row a request holds (accounts.pruning)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.pruning import PAUSE, PAUSE_HELP, check_batches, prune_tokens


class Command(BaseCommand):
    help = (
        "Delete dead token families with their refresh tokens, other expired refresh tokens "
        "and expired login codes, in batches; safe to run while the server is serving."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--pause", type=float, default=PAUSE, help=PAUSE_HELP)

    def handle(self, *args, batch_size, pause, **options):
        check_batches(batch_size, pause)
        counts = prune_tokens(timezone.now(), batch_size, pause)
        self.stdout.write(
            f"Deleted {counts['families']} dead token families with their "
            f"{counts['family tokens']} refresh tokens, {counts['expired tokens']} other "
            f"expired refresh tokens and {counts['codes']} expired login codes."
        )
