"""A writer that marks the hours of the scores it inserts itself tells the score trigger to skip them.

Batch scoring stores a million scores in one COPY and knows their events' times already;
the trigger would join every new score to its event again to find the same hours (about
1.3 s of PostgreSQL's time per million). With `insights.hours_marked` set to 'on' for the
statement (`SET LOCAL`, so only that session's transaction sees it) the insert trigger
leaves the marking to the writer. Updates and deletes are always marked by the trigger.
"""
import importlib

from django.db import migrations

_previous = importlib.import_module("insights.migrations.0004_dirty_hours_by_date_bin")
_triggers = importlib.import_module("insights.migrations.0002_dirty_hour_triggers")
_SCORE_BEGIN = "CREATE OR REPLACE FUNCTION insights_mark_score_hours() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
assert _SCORE_BEGIN in _previous.PG_FUNCTIONS
PG_FUNCTIONS = _previous.PG_FUNCTIONS.replace(
    _SCORE_BEGIN,
    _SCORE_BEGIN + "  IF TG_OP = 'INSERT' AND current_setting('insights.hours_marked', true) = 'on' THEN\n"
    "    RETURN NULL;\n  END IF;\n",
)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0004_dirty_hours_by_date_bin"),
    ]

    operations = [
        migrations.RunPython(
            _triggers._run({"postgresql": [PG_FUNCTIONS]}),
            _triggers._run({"postgresql": [_previous.PG_FUNCTIONS]}),
        ),
    ]
