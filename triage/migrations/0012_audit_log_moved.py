# The audit log moved to the audit app (audit/migrations/0001_initial.py): the model leaves
# triage's picture; its table and rows stay where they are.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0011_case_comments"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEntry")],
            database_operations=[],
        ),
    ]
