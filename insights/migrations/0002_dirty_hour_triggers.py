"""Database triggers that mark hours dirty when events, labels, scores or reviews change.

Triggers rather than Django signals because events and scores arrive through bulk inserts
(/score, imports, COPY) that send no signals. On PostgreSQL they are statement-level with
transition tables: one small INSERT per statement, whatever its row count.
"""
from django.db import migrations

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION insights_mark_transaction_hours() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT date_trunc('hour', n.timestamp, 'UTC'), now() FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT date_trunc('hour', o.timestamp, 'UTC'), now() FROM old_rows o;
  ELSE
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT h, now() FROM (
        SELECT date_trunc('hour', n.timestamp, 'UTC') AS h, o.timestamp AS old_ts
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE (n.is_fraud, n.amount, n.timestamp, n.event_type)
               IS DISTINCT FROM (o.is_fraud, o.amount, o.timestamp, o.event_type)
        UNION ALL
        SELECT date_trunc('hour', o.timestamp, 'UTC'), o.timestamp
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.timestamp <> o.timestamp
      ) changed;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION insights_mark_score_hours() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT date_trunc('hour', t.timestamp, 'UTC'), now()
        FROM new_rows n JOIN triage_transaction t ON t.id = n.transaction_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT date_trunc('hour', t.timestamp, 'UTC'), now()
        FROM old_rows o JOIN triage_transaction t ON t.id = o.transaction_id;
  ELSE
    -- Claims and explanations update scores too; only what the dashboards count matters.
    INSERT INTO insights_dirtyhour (hour, marked_at)
      SELECT DISTINCT date_trunc('hour', t.timestamp, 'UTC'), now()
        FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id
        JOIN triage_transaction t ON t.id = n.transaction_id
       WHERE (n.review_status, n.tier, n.risk_score, n.expected_loss)
             IS DISTINCT FROM (o.review_status, o.tier, o.risk_score, o.expected_loss);
  END IF;
  RETURN NULL;
END $$;
"""

PG_TRIGGERS = []
for table, function in (("triage_transaction", "insights_mark_transaction_hours"), ("triage_score", "insights_mark_score_hours")):
    PG_TRIGGERS += [
        f"CREATE TRIGGER insights_{table}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
        f"CREATE TRIGGER insights_{table}_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
        f"CREATE TRIGGER insights_{table}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
    ]

PG_DROP = [
    f"DROP TRIGGER IF EXISTS insights_{table}_{op} ON {table};"
    for table in ("triage_transaction", "triage_score") for op in ("ins", "upd", "del")
] + [
    "DROP FUNCTION IF EXISTS insights_mark_transaction_hours();",
    "DROP FUNCTION IF EXISTS insights_mark_score_hours();",
]

# SQLite (the no-services demo): row-level triggers, datetimes are stored as UTC text.
_HOUR = "strftime('%Y-%m-%d %H:00:00', {})"
_MARK = "INSERT INTO insights_dirtyhour (hour, marked_at) VALUES ({}, datetime('now'));"
_SCORE_HOUR = _HOUR.format("(SELECT timestamp FROM triage_transaction WHERE id = {}.transaction_id)")
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER insights_txn_ins AFTER INSERT ON triage_transaction BEGIN {_MARK.format(_HOUR.format('NEW.timestamp'))} END;",
    f"CREATE TRIGGER insights_txn_del AFTER DELETE ON triage_transaction BEGIN {_MARK.format(_HOUR.format('OLD.timestamp'))} END;",
    "CREATE TRIGGER insights_txn_upd AFTER UPDATE OF is_fraud, amount, timestamp, event_type ON triage_transaction BEGIN "
    f"{_MARK.format(_HOUR.format('NEW.timestamp'))} {_MARK.format(_HOUR.format('OLD.timestamp'))} END;",
    f"CREATE TRIGGER insights_score_ins AFTER INSERT ON triage_score BEGIN {_MARK.format(_SCORE_HOUR.format('NEW'))} END;",
    f"CREATE TRIGGER insights_score_del AFTER DELETE ON triage_score BEGIN {_MARK.format(_SCORE_HOUR.format('OLD'))} END;",
    "CREATE TRIGGER insights_score_upd AFTER UPDATE OF review_status, tier, risk_score, expected_loss ON triage_score BEGIN "
    f"{_MARK.format(_SCORE_HOUR.format('NEW'))} END;",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS insights_{name};" for name in (
    "txn_ins", "txn_del", "txn_upd", "score_ins", "score_del", "score_upd")]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("triage", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": [PG_FUNCTIONS, *PG_TRIGGERS], "sqlite": SQLITE_TRIGGERS}),
            _run({"postgresql": PG_DROP, "sqlite": SQLITE_DROP}),
        ),
    ]
