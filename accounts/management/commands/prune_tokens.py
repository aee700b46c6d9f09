"""manage.py prune_tokens: delete refresh tokens, token families and login codes that can
never again be presented validly. Safe to run while serving: small batches, each its
own short transaction, and every condition is re-checked by the DELETE itself."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import HandoffCode, RefreshToken, TokenFamily


def _delete_in_batches(queryset, batch_size: int) -> int:
    """Delete what ``queryset`` selects, ``batch_size`` rows at a time; the DELETE is
    filtered by the same queryset, so a row that came back to life is kept."""
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        count, by_model = queryset.filter(pk__in=ids).delete()
        deleted += by_model.get(queryset.model._meta.label, 0)
        if count == 0:
            return deleted


def dead_refresh_tokens(now):
    """Return the expired refresh tokens: an expired token is refused whether or not its
    row exists."""
    return RefreshToken.objects.filter(expires_at__lte=now)


def dead_families(now):
    """Return the families revoked longer ago than any token can live, or without any
    unexpired refresh token and older than an access token can live (every access token
    of a family was minted while one of its refresh tokens was alive, so none of them
    can verify)."""
    longest = timedelta(seconds=max(settings.ACCESS_TOKEN_TTL, settings.REFRESH_TOKEN_TTL))
    access_lifetime = timedelta(seconds=settings.ACCESS_TOKEN_TTL + 60)
    live_token = RefreshToken.objects.filter(family=OuterRef("pk"), expires_at__gt=now)
    revoked_long_ago = TokenFamily.objects.filter(revoked_at__lt=now - longest)
    exhausted = TokenFamily.objects.filter(created_at__lt=now - access_lifetime).exclude(
        Exists(live_token)
    )
    return revoked_long_ago | exhausted


def dead_handoff_codes(now):
    return HandoffCode.objects.filter(expires_at__lte=now)


class Command(BaseCommand):
    help = (
        "Delete expired refresh tokens, dead token families and expired login codes, in "
        "batches; safe to run while the server is serving."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size, **options):
        now = timezone.now()
        tokens = _delete_in_batches(dead_refresh_tokens(now), batch_size)
        families = _delete_in_batches(dead_families(now), batch_size)
        codes = _delete_in_batches(dead_handoff_codes(now), batch_size)
        self.stdout.write(
            f"Deleted {tokens} expired refresh tokens, {families} dead token families "
            f"and {codes} expired login codes."
        )
