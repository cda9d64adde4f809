"""What a newcomer meets on `make demo`: a quiet start that ends with the URL and logins, a
second start that does not load everything again, `demo_setup --reset`, and async /score
jobs that answer 202 at once even without a broker."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from scoring.models import ModelVersion, ScoreJob
from tests.support.factories import event
from triage.models import Transaction

ROOT = Path(__file__).resolve().parents[2]
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
        from ml.explain import explain_rows, make_explainer
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
        booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), 5)
        from ml.features import FEATURES
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


@pytest.mark.slow
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


# --------------------------------------------------------------------------- async jobs without a broker


def _batch(n: int) -> list[dict]:
    return [event(event_id=f"bg-{i}", timestamp=f"2026-11-20T10:{i:02d}:00Z") for i in range(n)]


def _wait_for(job_id, status: str, seconds: float = 60) -> ScoreJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = ScoreJob.objects.get(pk=job_id)
        if job.status == status:
            return job
        assert job.status != ScoreJob.Status.FAILED, job.error
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status}, not {status}, after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_an_async_job_answers_at_once_and_is_scored_in_the_background_without_a_broker(
    service, champion, settings, monkeypatch
):
    """Eager tasks (no REDIS_URL): the 202 comes back while the job is still queued, and its
    status URL then shows it running and done."""
    from scoring import services

    settings.SCORE_JOBS_IN_THREAD_WHEN_EAGER = True
    # Gates hold the background work at each step so the test sees every status; the
    # timeouts only bound how long a broken build (scoring inside the request) hangs.
    may_start, may_score = threading.Event(), threading.Event()
    run_job, score_events = services.score_job_run, services.score_events

    def gated_run(**kwargs):
        may_start.wait(timeout=10)
        return run_job(**kwargs)

    def gated_score(**kwargs):
        may_score.wait(timeout=10)
        return score_events(**kwargs)

    monkeypatch.setattr(services, "score_job_run", gated_run)
    monkeypatch.setattr(services, "score_events", gated_score)

    started = time.monotonic()
    response = service.post("/score?mode=async", _batch(3), format="json")
    assert response.status_code == 202
    assert time.monotonic() - started < 5
    body = response.json()
    assert service.get(body["status_url"]).json()["status"] == "queued"

    may_start.set()
    _wait_for(body["job_id"], ScoreJob.Status.RUNNING)
    assert service.get(body["status_url"]).json()["status"] == "running"

    may_score.set()
    _wait_for(body["job_id"], ScoreJob.Status.DONE)
    status = service.get(body["status_url"]).json()
    assert status["status"] == "done"
    assert [r["event_id"] for r in status["results"]] == ["bg-0", "bg-1", "bg-2"]
    assert Transaction.objects.filter(event_id__startswith="bg-").count() == 3
    assert ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).count() == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_score_answers_before_the_explanation_which_follows(service, champion, settings, monkeypatch):
    """The demo's /score must not compute SHAP in the request: the answer says pending, the
    explanation is ready moments later."""
    from scoring import services
    from triage.models import Score

    settings.EXPLAIN_IN_THREAD_WHEN_EAGER = True
    settings.EXPLAIN_PUBLISH_DELAY_MS = 0
    may_explain = threading.Event()
    enqueue = services.enqueue_explanations

    def gated(ids):
        may_explain.wait(timeout=10)
        return enqueue(ids)

    monkeypatch.setattr(services, "enqueue_explanations", gated)
    started = time.monotonic()
    body = service.post("/score", event(event_id="quick"), format="json").json()
    assert time.monotonic() - started < 5
    assert body["explanation_status"] == "pending"
    may_explain.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Score.objects.get(transaction__event_id="quick").explanation_status == "ready":
            break
        time.sleep(0.05)
    assert Score.objects.get(transaction__event_id="quick").explanation_status == "ready"
