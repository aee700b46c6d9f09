from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent, AuditType

pytestmark = pytest.mark.django_db


def event(days_ago):
    created = AuditEvent.objects.create(type=AuditType.LOGIN_FAILED)
    AuditEvent.objects.filter(pk=created.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return created


def test_deletes_only_events_older_than_the_cutoff():
    keep = [event(1), event(29)]
    for days in (31, 100, 400):
        event(days)
    out = StringIO()
    call_command("prune_audit", "--older-than", "30", stdout=out)
    assert "Deleted 3 audit event(s)" in out.getvalue()
    assert sorted(AuditEvent.objects.values_list("pk", flat=True)) == sorted(e.pk for e in keep)


def test_dry_run_deletes_nothing():
    event(40)
    out = StringIO()
    call_command("prune_audit", "--older-than", "30", "--dry-run", stdout=out)
    assert "1 audit event(s)" in out.getvalue()
    assert AuditEvent.objects.count() == 1


def test_refuses_nonsense():
    with pytest.raises(CommandError):
        call_command("prune_audit", "--older-than", "0")
    for option in ("--batch-size=0", "--pause=-1"):
        with pytest.raises(CommandError):
            call_command("prune_audit", "--older-than", "30", option)


def test_deletes_in_batches_of_the_given_size():
    keep = event(1)
    for days in range(31, 43):
        event(days)
    with CaptureQueriesContext(connection) as captured:
        call_command("prune_audit", "--older-than", "30", "--batch-size", "5", stdout=StringIO())
    deletes = [q for q in captured if q["sql"].startswith('DELETE FROM "accounts_auditevent"')]
    assert len(deletes) == 3  # 5 + 5 + 2
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [keep.pk]
