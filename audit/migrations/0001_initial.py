# The audit log moved here from triage. Its table keeps its name and rows: these operations
# change Django's picture of the models only, and touch no table.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0002_roles"),
        ("triage", "0011_case_comments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("action", models.CharField(max_length=40)),
                        ("object_type", models.CharField(blank=True, max_length=40)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ("actor_client", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to="accounts.apiclient")),
                    ],
                    options={
                        "verbose_name_plural": "audit entries",
                        "db_table": "triage_auditentry",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
                            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
                            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_time"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
