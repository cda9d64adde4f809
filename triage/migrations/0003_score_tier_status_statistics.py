"""Tell PostgreSQL's planner that tier and review status are correlated.

Most old high- and medium-tier cases are decided while most low-tier ones stay open, so the
planner's default (independent columns) overestimates open high-tier cases many times over
and picks parallel hash joins where an index walk is quicker. SQLite has no such statistics.
"""
from django.db import migrations

CREATE = "CREATE STATISTICS IF NOT EXISTS score_tier_status (mcv) ON tier, review_status FROM triage_score"
DROP = "DROP STATISTICS IF EXISTS score_tier_status"


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("triage", "0002_workbench")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
