"""authsite/compiled.py: a queryset compiled once gives, for any values, the rows the
ORM gives, an update updates what the ORM's would, and an insert writes the row
``save()`` writes (the fast lane relies on it). Run through Django's own cursor: the
single statements on both engines, the batch (PostgreSQL's SQL) on PostgreSQL."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from accounts.api.bearer import app_token_family_query
from accounts.models import AuditEvent, AuditType, RefreshToken, Role, TokenFamily, User
from accounts.tokens import refresh as refresh_tokens
from accounts.tokens import rotation
from authsite.compiled import (
    CompiledBatch,
    CompiledQuery,
    CompiledUpdate,
    insert_statement,
    numbered_placeholders,
)
from organisations.access import applications_query, features_query, setup_organisation_access
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserFeatureOverride,
)

pytestmark = pytest.mark.django_db

ACCESS = {"user_id": User._meta.pk, "organisation_id": Organisation._meta.pk}


def _run(compiled, **values):
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, compiled.params(**values))
        return compiled.rows(cursor.fetchall())


@pytest.fixture
def members():
    """Two members of two organisations, with JSON access rows and every kind of flag
    override (a user's, an organisation's, an expiring one)."""
    people = []
    for slug in ("acme", "globex"):
        organisation = Organisation.objects.create(name=slug.title(), slug=slug)
        member = User.objects.create_user(f"a@{slug}.example", organisation=organisation)
        setup_organisation_access(organisation)
        OrganisationToolAccess.objects.filter(organisation=organisation).update(
            limits={"seats": len(slug)}, features=[slug]
        )
        people.append(member)
    flag = FeatureFlag.objects.create(key="beta", name="Beta", enabled=True, rollout_percentage=0)
    UserFeatureOverride.objects.create(
        user=people[0], flag=flag, enabled=True, expires_at=timezone.now() + timedelta(days=1)
    )
    OrganisationFeatureOverride.objects.create(
        organisation=people[1].organisation, flag=flag, enabled=False
    )
    return people


def test_compiled_queries_give_the_orm_s_rows_for_any_values(members):
    applications = CompiledQuery(applications_query, **ACCESS)
    features = CompiledQuery(features_query, **ACCESS)
    for query in (applications, features):
        query.compile(connection)
    for member in members:
        values = {"user_id": member.pk, "organisation_id": member.organisation_id}
        assert _run(applications, **values) == list(applications_query(**values))
        assert _run(features, **values) == list(features_query(**values))
    assert _run(features, **values)  # rows with datetimes and booleans were compared


@pytest.mark.postgres
def test_a_batch_gives_each_query_its_own_rows_in_its_own_order(members):
    family = TokenFamily.objects.create(user=members[0])
    principal = CompiledQuery(app_token_family_query, family_id=TokenFamily._meta.pk)
    batch = CompiledBatch(
        principal,
        CompiledQuery(applications_query, **ACCESS),
        CompiledQuery(features_query, **ACCESS),
    )
    batch.compile(connection)
    values = {"user_id": members[0].pk, "organisation_id": members[0].organisation_id}
    with connection.cursor() as cursor:
        cursor.execute(batch.sql, batch.params({"family_id": family.pk}, values, values))
        rows = batch.rows(cursor.fetchall())
    assert rows == [
        list(app_token_family_query(family.pk)),
        list(applications_query(**values)),
        list(features_query(**values)),
    ]
    assert len(rows[1]) > 1  # the order of several rows was compared

    # As the fast lane runs it: numbered placeholders on a raw cursor.
    with psycopg.RawCursor(connection.connection) as raw:
        raw.execute(
            numbered_placeholders(batch.sql),
            batch.params({"family_id": family.pk}, values, values),
        )
        assert batch.rows(raw.fetchall()) == rows


def test_numbered_placeholders_number_each_s_and_unescape_percent():
    sql = "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d IN (%s, %s)"
    assert numbered_placeholders(sql) == (
        b"SELECT a FROM t WHERE b = $1 AND c LIKE 'x%' AND d IN ($2, $3)"
    )
    assert numbered_placeholders("SELECT 'Zoë'") == "SELECT 'Zoë'".encode()
    for bad in ("SELECT %(name)s", "SELECT %d", "SELECT 1 %"):
        with pytest.raises(ValueError, match="only %s and %% are placeholders"):
            numbered_placeholders(bad)


def test_a_value_that_does_not_reach_the_sql_is_refused_at_compile_time():
    compiled = CompiledQuery(
        lambda user_id: User.objects.filter(role=Role.VIEWER), user_id=User._meta.pk
    )
    with pytest.raises(ValueError, match="user_id does not reach the compiled SQL"):
        compiled.compile(connection)


def test_a_compiled_update_updates_what_the_orm_would(members):
    family = TokenFamily.objects.create(user=members[0])
    now = timezone.now()
    first, second = (refresh_tokens.new_refresh_token(family.pk, now)[0] for _ in range(2))
    first.save(force_insert=True)
    second.save(force_insert=True)
    spend = CompiledUpdate(
        rotation.unspent_query,
        ("used_at",),
        token_id=RefreshToken._meta.pk,
        used_at=RefreshToken._meta.get_field("used_at"),
    )
    spend.compile(connection)
    with connection.cursor() as cursor:
        cursor.execute(spend.sql, spend.params(token_id=first.pk, used_at=now))
        assert cursor.rowcount == 1
        cursor.execute(spend.sql, spend.params(token_id=first.pk, used_at=now))
        assert cursor.rowcount == 0  # spent already: the condition holds
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.used_at == now and second.used_at is None


def test_an_insert_writes_the_row_save_writes(members):
    family = TokenFamily.objects.create(user=members[0])
    details = {"family": str(family.pk), "nested": {"π": [1, 2]}}

    def event():
        return AuditEvent(
            type=AuditType.TOKEN_REFRESHED,
            user=members[0],
            organisation_id=members[0].organisation_id,
            ip="203.0.113.9",
            user_agent="Browser/1.0",
            details=details,
        )

    saved = event()
    saved.save()
    first_sql = None
    for _ in range(2):  # compiled on the first call, reused after
        inserted = event()
        sql, params = insert_statement(inserted, connection)
        first_sql = first_sql or sql
        assert sql == first_sql
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            (pk,) = cursor.fetchone()
        row = AuditEvent.objects.get(pk=pk)
        for field in ("type", "user_id", "organisation_id", "ip", "user_agent", "details"):
            assert getattr(row, field) == getattr(saved, field), field
        assert row.created_at == inserted.created_at  # auto_now_add, as save() sets it
