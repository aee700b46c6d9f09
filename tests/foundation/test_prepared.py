"""Django's path runs the statements compiled once (authsite.compiled) prepared on the
PostgreSQL server: parsed once per connection, then only executed."""

import pytest
from django.db import DataError, connection, transaction

from authsite.compiled import numbered_placeholders, run_prepared
from organisations.access import APPLICATIONS, applications_query
from tests.api.kit import member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _executions(statement: str) -> list[int]:
    """Return how often each statement prepared on this connection with the text
    ``statement`` has run."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = %s",
            [statement],
        )
        return [runs for (runs,) in cursor.fetchall()]


def test_a_compiled_statement_is_prepared_once_per_connection_and_answers_as_the_orm():
    user = member()
    values = {"user_id": user.pk, "organisation_id": user.organisation_id}
    expected = list(applications_query(**values))
    assert expected, "the member has applications to read"
    APPLICATIONS.fetch(connection, **values)
    # The server's text of the statement: psycopg numbers Django's placeholders.
    text = numbered_placeholders(APPLICATIONS.sql).decode()
    [before] = _executions(text)
    for _ in range(3):
        assert APPLICATIONS.fetch(connection, **values) == expected
    assert _executions(text) == [before + 3]


def test_its_errors_are_django_s():
    with pytest.raises(DataError), transaction.atomic():
        run_prepared(connection, "SELECT 1 / %s", [0])


def test_it_sends_the_statement_numbered_and_each_value_bound_on_the_server():
    # A value that looks like a placeholder stays a value: only the SQL is converted.
    with run_prepared(connection, "SELECT %s::text, '100%%'", ["%s $1"]) as cursor:
        assert cursor.fetchall() == [("%s $1", "100%")]
