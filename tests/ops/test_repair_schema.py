"""`manage.py repair_schema`: each test breaks the schema the way an operator's accident
or a bad hand-written fix would, then proves that --check names the fault and exits 1,
that the repair fixes it without touching a row, and that a second run does nothing."""

import copy
import os
import sqlite3
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.db import connection, models
from django.db.migrations import operations
from django.db.migrations.recorder import MigrationRecorder

from accounts.models import Role, SigningKey, User
from organisations.models import Organisation, Tool

from .conftest import (
    assert_clean_and_idempotent,
    assert_refuses,
    assert_repairs,
    break_schema,
    populate,
    repair_schema,
    roll_back,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("schema"),
]


def test_freshly_migrated_database_has_no_drift():
    populate()
    assert_clean_and_idempotent()


def test_missing_table_is_recreated():
    populate()
    break_schema("organisations", operations.DeleteModel("UserApplicationAccess"))
    check = assert_repairs("table user_application_access", "organisations.0001_initial")
    assert "create it" in check.out
    assert "user_application_access" in connection.introspection.table_names()


def test_missing_many_to_many_table_is_recreated():
    populate()
    with connection.schema_editor() as editor:
        editor.delete_model(User._meta.get_field("groups").remote_field.through)
    assert_repairs("table accounts_user_groups", "accounts.User.groups")


def test_many_to_many_table_keys_are_restored():
    populate()
    through = User._meta.get_field("groups").remote_field.through
    user_field = through._meta.get_field("user")
    unconstrained = copy.copy(user_field)
    unconstrained.db_constraint = False
    with connection.schema_editor() as editor:
        editor.alter_field(through, user_field, unconstrained)
        editor.alter_unique_together(through, through._meta.unique_together, [])
    assert_repairs(
        "foreign key accounts_user_groups.user_id → accounts_user(id) is missing",
        "unique constraint on accounts_user_groups(user_id, group_id) is missing",
    )


def test_missing_table_still_referenced_is_refused():
    populate()
    table = connection.ops.quote_name("organisations_organisation")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TABLE {table} CASCADE")
        else:
            with connection.constraint_checks_disabled():
                cursor.execute(f"DROP TABLE {table}")
    assert_refuses(
        "Table organisations_organisation is missing while rows elsewhere still refer to its "
        "rows (",
        "2 rows of accounts_user.organisation_id",
        "1 row of organisations_organisationdomain.organisation_id",
        "1 row of organisations_organisationtoolaccess.organisation_id",
        "Restore the table from a backup, or clear those references",
    )


def test_missing_column_is_added_and_existing_rows_filled():
    populate()
    break_schema("organisations", operations.RemoveField("organisation", "industry"))
    check = assert_repairs("column organisations_organisation.industry", "is missing")
    assert "filling the existing 2 rows with an empty value" in check.out
    assert list(Organisation.objects.values_list("industry", flat=True)) == ["", ""]


@pytest.mark.parametrize(
    ("app_label", "model_name", "constraint"),
    [
        ("organisations", "organisationtoolaccess", "organisation_tool_access_unique"),
        ("accounts", "user", "user_email_unique_ci"),  # functional: Lower("email")
        ("accounts", "signingkey", "signing_key_one_current"),  # conditional
        ("organisations", "organisation", "organisation_plan_valid"),  # check
        ("accounts", "user", "user_organisation_required_unless_super_admin"),  # check
    ],
)
def test_missing_named_constraint_is_added(app_label, model_name, constraint):
    populate()
    break_schema(app_label, operations.RemoveConstraint(model_name, constraint))
    assert_repairs(f"constraint {constraint}", "is missing")


def test_repaired_unique_constraint_is_enforced():
    populate()
    break_schema("accounts", operations.RemoveConstraint("user", "user_email_unique_ci"))
    assert_repairs("user_email_unique_ci")
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        User.objects.create_user("ADA@acme.test", organisation=Organisation.objects.first())


def test_missing_named_index_is_created():
    populate()
    break_schema("accounts", operations.RemoveIndex("refreshtoken", "refresh_token_expires_idx"))
    assert_repairs("index refresh_token_expires_idx on accounts_refreshtoken")


def test_missing_field_unique_index_and_foreign_key_are_added():
    populate()
    break_schema(
        "organisations",
        operations.AlterField("organisation", "slug", models.SlugField(max_length=100)),
        operations.AlterField(
            "userapplicationaccess",
            "tool",
            models.ForeignKey(
                "organisations.tool",
                on_delete=models.CASCADE,
                related_name="user_access",
                db_constraint=False,
            ),
        ),
    )
    break_schema(
        "accounts",
        operations.AlterField("loginsession", "idp_sid", models.CharField(max_length=255)),
    )
    assert_repairs(
        "unique constraint on organisations_organisation(slug)",
        "index on accounts_loginsession(idp_sid)",
        "user_application_access.tool_id → organisations_tool(id) is missing",
    )


def test_nullability_is_restored_both_ways():
    populate()
    break_schema(
        "organisations",
        operations.AlterField("organisation", "name", models.CharField(max_length=200, null=True)),
    )
    break_schema(
        "accounts",
        operations.AlterField("user", "email", models.EmailField(max_length=254)),
    )
    check = assert_repairs(
        "column organisations_organisation.name",
        "allows NULL where the migrations say NOT NULL",
        "column accounts_user.email",
        "is NOT NULL where the migrations allow NULL",
    )
    assert "make it NOT NULL" in check.out
    assert "allow NULL" in check.out


def test_empty_column_of_the_wrong_type_is_converted():
    populate()
    break_schema(
        "organisations",
        operations.AlterField("organisation", "auth0_org_id", models.TextField(null=True)),
    )
    assert_repairs("column organisations_organisation.auth0_org_id", "its type is text")


def test_columns_the_migrations_do_not_know_are_never_dropped():
    populate()
    break_schema("organisations", operations.RemoveField("organisation", "industry"))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE organisations_organisation ADD COLUMN notes varchar(50)")
        cursor.execute("UPDATE organisations_organisation SET notes = 'keep me'")
    try:
        if connection.vendor == "sqlite":
            # Adding a NOT NULL column means rebuilding the table on SQLite.
            assert_refuses(
                "Repairing organisations_organisation on SQLite rebuilds the table, which "
                "would drop its column notes that the migrations do not know."
            )
        else:
            assert_repairs("column organisations_organisation.industry")
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT notes FROM organisations_organisation")
            assert cursor.fetchall() == [("keep me",)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE organisations_organisation DROP COLUMN notes")


def test_wrong_type_column_holding_values_is_refused():
    populate()
    break_schema(
        "organisations",
        operations.AlterField("organisation", "industry", models.TextField(blank=True)),
    )
    assert_refuses(
        "Column organisations_organisation.industry is text where the migrations say "
        "varchar(100), and 2 rows hold values that repair_schema will not convert."
    )
    assert sorted(Organisation.objects.values_list("industry", flat=True)) == ["energy", "retail"]


def test_unique_constraint_violated_by_existing_rows_is_refused():
    populate()
    break_schema("accounts", operations.RemoveConstraint("user", "user_email_unique_ci"))
    User.objects.create_user("ADA@acme.test", organisation=Organisation.objects.first())
    assert_refuses(
        "The unique constraint user_email_unique_ci on accounts_user cannot be added: "
        "1 value is shared by 2 rows."
    )
    assert User.objects.filter(email__iexact="ada@acme.test").count() == 2


def test_check_constraint_violated_by_existing_rows_is_refused():
    populate()
    break_schema(
        "organisations", operations.RemoveConstraint("organisation", "organisation_plan_valid")
    )
    Organisation.objects.filter(slug="acme").update(subscription_plan="gold")
    assert_refuses(
        "The check constraint organisation_plan_valid on organisations_organisation cannot "
        "be added: 1 row violates it."
    )


def test_not_null_with_nulls_present_is_refused():
    populate()
    break_schema(
        "organisations",
        operations.AlterField("organisation", "name", models.CharField(max_length=200, null=True)),
    )
    Organisation.objects.filter(slug="globex").update(name=None)
    assert_refuses(
        "Column organisations_organisation.name cannot be made NOT NULL: 1 row holds NULL."
    )


def test_not_null_column_without_default_on_rows_is_refused():
    populate()
    break_schema("organisations", operations.RemoveField("organisationdomain", "organisation"))
    assert_refuses(
        "Column organisations_organisationdomain.organisation_id cannot be added: it is NOT "
        "NULL without a default and organisations_organisationdomain holds 1 row"
    )


def test_migration_recorded_as_applied_but_never_run_is_completed():
    # Super admins need no organisation, so the users survive losing theirs.
    populate(role=Role.SUPER_ADMIN)
    unapplied = roll_back("accounts", "0001_initial", keep_records=True)
    assert ("accounts", "0002_initial") in unapplied
    check = assert_repairs(
        "column accounts_user.organisation_id",
        "table accounts_user_user_permissions",
        "constraint user_email_unique_ci",
        "made by migration accounts.0002_initial, recorded as applied",
    )
    assert "is not applied" not in check.out
    assert "not recorded as applied" not in check.out
    assert SigningKey._meta.db_table in connection.introspection.table_names()


def test_pending_migration_whose_changes_are_present_is_recorded_not_run():
    populate()
    MigrationRecorder(connection).record_unapplied("accounts", "0002_initial")
    check = assert_repairs(
        "migration accounts.0002_initial is not recorded as applied but its changes are "
        "already in the database; repair: record it as applied without running it"
    )
    assert check.out.count("\n  - ") == 1
    assert (
        MigrationRecorder(connection)
        .migration_qs.filter(app="accounts", name="0002_initial")
        .exists()
    )


def test_pending_migration_whose_changes_are_absent_is_applied():
    populate(role=Role.SUPER_ADMIN)
    roll_back("accounts", "0001_initial", keep_records=False)
    assert_repairs("migration accounts.0002_initial is not applied; repair: apply it")


def test_pending_data_migration_is_rerun_idempotently():
    populate()
    # The tools that migration seeds, as a freshly migrated database has them (an earlier
    # transactional test may have emptied the table).
    import_module("organisations.migrations.0002_default_tools").create_tools(django_apps, None)
    MigrationRecorder(connection).record_unapplied("organisations", "0002_default_tools")
    tools = list(Tool.objects.order_by("code").values())
    assert_repairs("migration organisations.0002_default_tools is not applied")
    assert list(Tool.objects.order_by("code").values()) == tools


def test_history_with_a_hole_is_mended():
    # A later migration applied while its dependency is not recorded: `migrate` itself
    # refuses such a history (InconsistentMigrationHistory).
    populate()
    MigrationRecorder(connection).record_unapplied("organisations", "0001_initial")
    assert_repairs("migration organisations.0001_initial is not recorded as applied")


def test_pending_migration_partly_in_the_database_is_completed_then_recorded():
    populate(role=Role.SUPER_ADMIN)
    MigrationRecorder(connection).record_unapplied("accounts", "0002_initial")
    break_schema("accounts", operations.RemoveIndex("refreshtoken", "refresh_token_expires_idx"))
    check = assert_repairs(
        "migration accounts.0002_initial is not recorded as applied and only part of it is "
        "in the database (missing: index accounts_refreshtoken.refresh_token_expires_idx)",
        "index refresh_token_expires_idx on accounts_refreshtoken is missing (made by "
        "migration accounts.0002_initial, not recorded as applied)",
    )
    assert "create the missing parts, then record it as applied" in check.out


def test_broken_by_hand_with_sql():
    populate()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE organisations_organisationdomain")
        if connection.vendor == "postgresql":
            flags = connection.introspection.get_constraints(cursor, "organisations_featureflag")
            tools = connection.introspection.get_constraints(cursor, "organisations_tool")
            check = next(name for name in flags if name.endswith("rollout_percentage_check"))
            primary_key = next(name for name, details in flags.items() if details["primary_key"])
            like_index = next(name for name in tools if name.endswith("_like"))
            cursor.execute(f"ALTER TABLE organisations_featureflag DROP CONSTRAINT {quote(check)}")
            cursor.execute(f"DROP INDEX {quote(like_index)}")
            # CASCADE also drops the foreign keys that point at the key.
            cursor.execute(
                "ALTER TABLE organisations_featureflag "
                f"DROP CONSTRAINT {quote(primary_key)} CASCADE"
            )
            expected = [
                "check constraint",
                "organisations_featureflag.rollout_percentage",
                "pattern-matching index (varchar_pattern_ops) on organisations_tool(code)",
                "primary key on organisations_featureflag(id) is missing",
                "→ organisations_featureflag(id) is missing",
            ]
        else:
            cursor.execute("DROP INDEX refresh_token_expires_idx")
            expected = ["index refresh_token_expires_idx"]
    assert_repairs("table organisations_organisationdomain", *expected)


def test_explicit_database_option():
    populate()
    break_schema("organisations", operations.RemoveField("organisation", "industry"))
    assert repair_schema("--check", "--database", "default").code == 1
    assert repair_schema("--database", "default").code == 0
    assert repair_schema("--check", "--database", "default").code == 0


def test_command_line_exit_codes(tmp_path):
    """The shell sees 1 for drift and 0 once repaired (a throwaway SQLite file)."""
    root = Path(__file__).resolve().parents[2]
    database = tmp_path / "drift.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "true"}
    env["SECRET_KEY"] = "command-line-test-secret"
    for name in ("DJANGO_SETTINGS_MODULE", "REQUIRE_POSTGRES"):
        env.pop(name, None)

    def manage(*args):
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)

    assert manage("migrate", "--verbosity", "0").returncode == 0
    with sqlite3.connect(database) as raw:
        raw.execute("DROP TABLE user_application_access")
    drift = manage("repair_schema", "--check")
    assert drift.returncode == 1
    assert "table user_application_access" in drift.stdout
    assert manage("repair_schema").returncode == 0
    clean = manage("repair_schema", "--check")
    assert clean.returncode == 0
    assert "No drift" in clean.stdout
