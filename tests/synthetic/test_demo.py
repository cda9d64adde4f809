"""`make demo`'s own path: SQLite, no broker, migrations, demo data, a model, scored live cases."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_setup_runs_on_sqlite_without_a_broker(tmp_path):
    database = tmp_path / "demo.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=f"sqlite:///{database}", MODEL_DIR=str(tmp_path / "models"))

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        return done.stdout

    manage("migrate", "--noinput", "--verbosity", "0")
    output = manage("demo_setup", "--accounts", "200", "--days", "35", "--live-events", "60", "--verbosity", "0")
    assert "Demo API key" in output

    with sqlite3.connect(database) as db:
        tiers = dict(db.execute(
            "SELECT s.tier, count(*) FROM triage_score s JOIN triage_transaction t ON t.id = s.transaction_id "
            "JOIN accounts_apiclient c ON c.id = t.client_id WHERE c.name = 'demo-checkout' GROUP BY s.tier"
        ).fetchall())
        champion = db.execute("SELECT count(*) FROM scoring_modelversion WHERE status = 'champion'").fetchone()[0]
    assert champion == 1
    assert sum(tiers.values()) == 60, tiers

    # The demo's example draft backtests on the embedded database too (the page's own path).
    script = (
        "from datetime import datetime, timezone; from rules.models import BacktestRun, RuleSetVersion; "
        "from rules.backtest import backtest; v = RuleSetVersion.objects.get(status='draft'); "
        "run = BacktestRun.objects.create(version=v, rules=v.rules, period_start=datetime(2000, 1, 1, tzinfo=timezone.utc), "
        "period_end=datetime(2100, 1, 1, tzinfo=timezone.utc)); backtest(run.pk); run.refresh_from_db(); "
        "print('BACKTEST', run.status, run.error, run.figures and run.figures['events'])"
    )
    line = next(l for l in manage("shell", "-c", script).splitlines() if l.startswith("BACKTEST"))
    assert line.split()[1] == "done" and int(line.split()[-1]) == sum(tiers.values()), line
