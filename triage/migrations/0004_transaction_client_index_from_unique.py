import django.db.models.deletion
from django.db import migrations, models

# The unique (client, event_id) index already serves look-ups by client. Dropping the index
# by name keeps the table as it is: an AlterField would make SQLite rebuild the table, which
# its dashboard triggers on triage_score (insights 0002) do not survive.
INDEX = "triage_transaction_client_id_5b2a044c"


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_roles"),
        ("triage", "0003_score_tier_status_statistics"),
        ("insights", "0002_dirty_hour_triggers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name="client",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transactions",
                        to="accounts.apiclient",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON triage_transaction (client_id)",
                ),
            ],
        ),
    ]
