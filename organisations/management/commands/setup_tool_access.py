"""`manage.py setup_tool_access [--organisation SLUG] [--dry-run]`: grants default tool
access, and members' application access, where missing (organisations.access.backfill_access)."""

from django.core.management.base import BaseCommand, CommandError

from organisations.access import backfill_access
from organisations.models import Organisation

BATCH_SIZE = 500
# Up to this many organisations, a line each; beyond it, totals only.
DETAIL_LIMIT = 20
# Beyond this many organisations, a progress line on stderr even when it is not a terminal.
PROGRESS_FROM = 100


class Command(BaseCommand):
    help = (
        "Grant default tool access to every organisation, and application access to their "
        "members, where missing. Idempotent; --dry-run writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organisation", metavar="SLUG", help="Only this organisation.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be granted; write nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help="Organisations per transaction (default: %(default)s).",
        )

    def handle(self, *args, organisation, dry_run, batch_size, **options):
        organisations = Organisation.objects.order_by("pk")
        if organisation:
            organisations = organisations.filter(slug=organisation)
        slugs = dict(organisations.values_list("pk", "slug"))
        if organisation and not slugs:
            raise CommandError(
                f"No organisation has the slug '{organisation}'; check the spelling (slugs "
                "are listed in the admin under Organisations)."
            )
        ids = list(slugs)
        progress = _Progress(
            self.stderr, len(ids), shown=self.stderr.isatty() or len(ids) > PROGRESS_FROM
        )
        results = []
        for start in range(0, len(ids), batch_size):
            results += backfill_access(ids[start : start + batch_size], dry_run=dry_run)
            progress.show(min(start + batch_size, len(ids)))
        progress.done()

        verb = "would be granted" if dry_run else "granted"
        if len(results) <= DETAIL_LIMIT:
            for result in results:
                if result.tool_access or result.application_access:
                    self.stdout.write(
                        f"{slugs[result.organisation_id]}: {result.tool_access} tool access, "
                        f"{result.application_access} application access {verb}"
                    )
                else:
                    self.stdout.write(f"{slugs[result.organisation_id]}: nothing missing")
        tool_access = sum(result.tool_access for result in results)
        application_access = sum(result.application_access for result in results)
        touched = sum(1 for result in results if result.tool_access or result.application_access)
        self.stdout.write(
            f"{tool_access:,} tool access and {application_access:,} application access rows "
            f"{verb} across {touched:,} of {len(results):,} organisations."
            + (" Dry run: nothing was written." if dry_run else "")
        )


class _Progress:
    """One line on stderr, rewritten in place: '1,500/10,000 organisations (15%)'."""

    def __init__(self, stream, total, *, shown):
        self.stream = stream
        self.total = total
        self.shown = shown and total > 0

    def show(self, count):
        if self.shown:
            percent = 100 * count // self.total
            self.stream.write(f"\r{count:,}/{self.total:,} organisations ({percent}%)", ending="")
            self.stream.flush()

    def done(self):
        if self.shown:
            self.stream.write("")
