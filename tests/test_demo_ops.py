"""What a newcomer meets on `make demo`: a quiet start that ends with the URL and logins, a
second start that does not load everything again, and `demo_setup --reset`."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("celery.app.trace", "No hostname was supplied", "UserWarning", "shap")


def _demo_env(tmp: Path) -> dict[str, str]:
    """The demo's environment: no broker, no PostgreSQL, files under tmp."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=f"sqlite:///{tmp / 'demo.sqlite3'}", MODEL_DIR=str(tmp / "models"), VAR_DIR=str(tmp))
    return env


def _run(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_eager_tasks_log_no_trace_lines_and_no_broker_warning(tmp_path):
    script = textwrap.dedent("""
        import django
        django.setup()
        from scoring.tasks import explain_scores
        print(explain_scores.delay([]).get())
    """)
    done = _run({**_demo_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.base"}, "-c", script)
    assert done.stdout.strip() == "explained 0 of 0"
    assert "celery.app.trace" not in done.stderr and "No hostname" not in done.stderr, done.stderr


def test_shap_warnings_nobody_can_act_on_are_filtered_where_shap_is_used(tmp_path):
    # -W always shows every warning each time, PendingDeprecationWarning included.
    script = textwrap.dedent("""
        import lightgbm, numpy as np
        from scoring.explain import explain_rows, make_explainer
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
        booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), 5)
        from scoring.features import FEATURES
        names = [spec.name for spec in FEATURES[:3]]
        rows = [dict(zip(names, (1.0, 0.0, -1.0))), dict(zip(names, (-1.0, 2.0, 0.5)))]
        for _ in range(3):
            result = explain_rows(make_explainer(booster), rows, names)
        print(len(result), result[0]["contributions"][0]["feature"])
    """)
    env = {**_demo_env(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    done = _run(env, "-W", "always", "-c", "import django; django.setup()\n" + script)
    assert done.stdout.split()[0] == "2"
    assert "shap" not in done.stderr, done.stderr


# --------------------------------------------------------------------------- make demo, twice, then reset


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    env = _demo_env(tmp)
    _run(env, "manage.py", "migrate", "--noinput", "--verbosity", "0")
    first = _run(env, "manage.py", "demo_setup", "--accounts", "200", "--days", "35", "--live-events", "60",
                 "--url", "http://127.0.0.1:8123/")
    return tmp, env, first


def _tail(output: str, n: int) -> list[str]:
    return [line for line in output.splitlines() if line.strip()][-n:]


def test_the_demo_loads_quietly_and_ends_with_the_url_and_logins(demo):
    _, _, first = demo
    assert "generated" in first.stdout
    for noise in NOISE:
        assert noise not in first.stderr, first.stderr[-3000:]
    assert _tail(first.stdout, 6) == [
        "Open http://127.0.0.1:8123/ and log in as",
        "  reviewer  user reviewer  password reviewer-demo-pass",
        "  manager   user manager   password manager-demo-pass",
        "  admin     user admin     password admin-demo-pass",
        "Demo API key (POST http://127.0.0.1:8123/score): ftw_demo_key_for_local_use_only_0000000000",
        "Background tasks run in the web process (no REDIS_URL). Stop with Ctrl-C.",
    ]


def test_a_second_run_finds_the_demo_data_and_does_not_generate_it_again(demo):
    tmp, env, _ = demo
    with sqlite3.connect(tmp / "demo.sqlite3") as db:
        history = db.execute(
            "SELECT count(*) FROM triage_transaction t JOIN accounts_apiclient c ON c.id = t.client_id "
            "WHERE c.name = 'synthetic-history'"
        ).fetchone()[0]
    again = _run(env, "manage.py", "demo_setup", "--accounts", "200", "--days", "35", "--live-events", "60")
    assert f"demo data already loaded ({history:,} events); make demo-reset to start again" in again.stdout
    assert "generated" not in again.stdout and "storing" not in again.stderr
    assert "Demo API key" in again.stdout


def test_reset_empties_the_demo_and_loads_it_again(demo):
    tmp, env, _ = demo
    database = tmp / "demo.sqlite3"
    old_bundles = sorted(p.name for p in (tmp / "models").iterdir())
    # What a user leaves behind while trying the demo: a user of their own and a reviewed case.
    _run(env, "manage.py", "shell", "-c", textwrap.dedent("""
        from django.contrib.auth.models import User
        from triage.models import Transaction
        User.objects.create_user("visitor", password="visitor-pass-123")
        Transaction.objects.filter(client__name="demo-checkout").update(label_source="review")
    """))
    reset = _run(env, "manage.py", "demo_setup", "--reset", "--accounts", "200", "--days", "35", "--live-events", "60")
    assert "generated" in reset.stdout and "already loaded" not in reset.stdout
    with sqlite3.connect(database) as db:
        users = sorted(name for (name,) in db.execute("SELECT username FROM auth_user"))
        champions = db.execute("SELECT count(*) FROM scoring_modelversion").fetchone()[0]
        live = db.execute(
            "SELECT count(*) FROM triage_transaction t JOIN accounts_apiclient c ON c.id = t.client_id "
            "WHERE c.name = 'demo-checkout'"
        ).fetchone()[0]
        relabeled = db.execute("SELECT count(*) FROM triage_transaction WHERE label_source = 'review'").fetchone()[0]
        groups = sorted(name for (name,) in db.execute("SELECT name FROM auth_group"))
    assert users == ["admin", "manager", "reviewer"]
    assert groups == ["admin", "manager", "reviewer"]
    assert champions == 1 and live == 60 and relabeled == 0
    bundles = sorted(p.name for p in (tmp / "models").iterdir())
    assert len(bundles) == 1 and bundles != old_bundles  # the flushed model's files went with it
