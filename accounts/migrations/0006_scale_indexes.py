"""Indexes that keep the admin's lists and prune_tokens fast at millions of rows
(docs/architecture.md, "At scale"). On PostgreSQL they are built CONCURRENTLY, so that
logins and rotations keep writing to these tables while each is built; elsewhere
(SQLite) they are plain CREATE INDEX."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """AddIndexConcurrently on PostgreSQL, AddIndex on any other database."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0005_token_family_dpop_jkt"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="auditevent",
            index=models.Index(
                fields=["organisation", "-created_at"], name="audit_organisation_idx"
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="refreshtoken",
            index=models.Index(
                condition=models.Q(("revoked_at__isnull", True), ("used_at__isnull", True)),
                fields=["family"],
                name="refresh_token_unspent_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="tokenfamily",
            index=models.Index(fields=["created_at"], name="token_family_created_idx"),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="user",
            index=models.Index(fields=["email"], name="user_email_idx"),
        ),
    ]
