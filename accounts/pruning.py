"""Deleting what can never be used again while the server serves (``manage.py
prune_tokens`` and ``prune_audit``).

``delete_in_batches`` deletes ``batch_size`` rows per transaction, each short: it locks
the next rows in the order of an indexed column with ``FOR UPDATE SKIP LOCKED`` (a row
another transaction holds, such as a token being rotated, is left for the next run: a
batch never waits on one), deletes them, and commits. The next batch starts at the
last row's value, so no batch reads again what an earlier one deleted and every batch
costs the same however many rows went before; a pause after each batch, in proportion
to its duration, leaves the database's CPU to the requests (docs/architecture.md, "At
scale").

Dead families go first, with their tokens: most expired tokens belong to one, and a
family's tokens, parents and children alike, go in one statement, where Django's
cascade would read every token and clear each child's parent before deleting it.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from .models import AuditEvent, HandoffCode, RefreshToken, TokenFamily

# After each batch, wait this many times as long as it took: pruning then works a
# quarter of the time. At full speed it took 40% of the rotations a 2-core machine
# served meanwhile (docs/benchmarks.md, "Scale").
PAUSE = 3.0
PAUSE_HELP = (
    "after each batch, wait this many times as long as it took, leaving the database to "
    "the requests (0: no pause)"
)


def check_batches(batch_size: int, pause: float) -> None:
    """Raise CommandError for a batch size under 1 or a negative pause."""
    if batch_size < 1:
        raise CommandError("--batch-size must be at least 1.")
    if pause < 0:
        raise CommandError("--pause cannot be negative.")


def delete_in_batches(
    queryset, order_by: str, batch_size: int, pause: float = 0.0, delete=None
) -> int:
    """Delete the rows of ``queryset`` ``batch_size`` at a time in ``order_by`` order (an
    indexed column), each batch its own transaction followed by a wait of ``pause``
    times its duration, through ``delete(ids)`` (by default Django's ``delete()``),
    which returns how many rows it deleted; return the sum."""
    delete = delete or (lambda ids: queryset.model.objects.filter(pk__in=ids).delete()[0])
    deleted, start = 0, None
    while True:
        started = time.monotonic()
        with transaction.atomic():
            batch = queryset if start is None else queryset.filter(**{f"{order_by}__gte": start})
            rows = list(
                batch.order_by(order_by, "pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", order_by)[:batch_size]
            )
            count = delete([pk for pk, _ in rows]) if rows else 0
        deleted += count
        if len(rows) < batch_size or not count:
            return deleted
        start = rows[-1][1]
        time.sleep(pause * (time.monotonic() - started))


def dead_families(now):
    """Return the families revoked longer ago than any token can live, or without any
    unexpired refresh token and older than an access token can live (every access token
    of a family was minted while one of its refresh tokens was alive, so none of them
    can verify). Every token of a dead family is dead."""
    longest = timedelta(seconds=max(settings.ACCESS_TOKEN_TTL, settings.REFRESH_TOKEN_TTL))
    access_lifetime = timedelta(seconds=settings.ACCESS_TOKEN_TTL + 60)
    live_token = RefreshToken.objects.filter(family=OuterRef("pk"), expires_at__gt=now)
    return TokenFamily.objects.filter(
        Q(revoked_at__lt=now - longest)
        | (Q(created_at__lt=now - access_lifetime) & ~Exists(live_token))
    )


def dead_refresh_tokens(now):
    """Return the expired refresh tokens: an expired token is refused whether or not its
    row exists."""
    return RefreshToken.objects.filter(expires_at__lte=now)


def dead_handoff_codes(now):
    return HandoffCode.objects.filter(expires_at__lte=now)


def prune_tokens(now, batch_size: int, pause: float = 0.0) -> dict[str, int]:
    """Delete the dead families with their refresh tokens, the other expired refresh
    tokens, and the expired login codes; return the counts by kind."""
    counts = {"family tokens": 0}

    def delete_families(ids) -> int:
        # Their tokens refer only to each other and to these families: the deferred
        # foreign keys, checked at commit, find nothing left pointing at them.
        tokens = RefreshToken.objects.filter(family_id__in=ids)
        counts["family tokens"] += tokens._raw_delete(tokens.db)
        families = TokenFamily.objects.filter(pk__in=ids)
        return families._raw_delete(families.db)

    counts["families"] = delete_in_batches(
        dead_families(now), "created_at", batch_size, pause, delete_families
    )
    counts["expired tokens"] = delete_in_batches(
        dead_refresh_tokens(now), "expires_at", batch_size, pause
    )
    counts["codes"] = delete_in_batches(dead_handoff_codes(now), "expires_at", batch_size, pause)
    return counts


def old_audit_events(cutoff):
    return AuditEvent.objects.filter(created_at__lt=cutoff)


def prune_audit(cutoff, batch_size: int, pause: float = 0.0) -> int:
    """Delete the audit events older than ``cutoff``; return how many."""
    return delete_in_batches(old_audit_events(cutoff), "created_at", batch_size, pause)
