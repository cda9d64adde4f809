"""Training compares three models on a time split, calibrates, and writes a readable report."""
from __future__ import annotations

import dataclasses

import numpy as np

from ml.training import CANDIDATES, TrainingConfig, train_model
from tests.support.factories import small_world, trained_result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_training_reports_every_candidate_on_the_test_period():
    result = trained_result()
    candidates = result.metrics["candidates"]
    assert set(candidates) == set(CANDIDATES)
    for metrics in candidates.values():
        assert 0 <= metrics["average_precision"] <= 1 and 0 <= metrics["roc_auc"] <= 1
        assert {"precision", "recall", "f1", "flagged"} <= set(metrics["high_tier"])
        assert metrics["top_k_accounts"]["k"] == 20
        savings = metrics["savings"]
        assert savings["expected_savings"] == savings["fraud_amount_caught"] - savings["review_cost"]
    beats = all(
        candidates["lightgbm"]["average_precision"] > candidates[b]["average_precision"]
        for b in ("logistic_regression", "random_forest")
    )
    assert result.metrics["lightgbm_beats_baselines"] is beats
    assert result.thresholds["medium"] <= result.thresholds["high"]


def test_periods_are_in_time_order_and_calibration_matches_the_fraud_share():
    result = trained_result()
    assert result.periods["train"].split(" – ")[1] < result.periods["validation"].split(" – ")[0]
    assert result.periods["validation"].split(" – ")[1] < result.periods["test"].split(" – ")[0]
    assert result.calibration["method"] == "platt" and result.calibration["slope"] > 0
    ev = result.evaluation
    # Platt scaling fitted on validation: the mean probability there is close to the fraud share.
    assert abs(ev["p_valid"].mean() - ev["y_valid"].mean()) < 0.01


def test_global_importance_covers_every_feature_largest_first():
    result = trained_result()
    values = [item["mean_abs_shap"] for item in result.importance]
    assert sorted(item["feature"] for item in result.importance) == sorted(result.feature_names)
    assert values == sorted(values, reverse=True) and values[0] > 0


def test_a_terminal_only_dataset_trains_with_delayed_terminal_risk():
    world = small_world()
    history = world[world["period"] == "history"]
    # Only account, terminal, amount, time and label; label times unknown (default delay).
    slim = history[["event_id", "account_id", "timestamp", "amount", "merchant_id", "is_fraud"]].copy()
    slim["is_fraud"] = slim["is_fraud"].astype("float64")
    result = train_model(slim, TrainingConfig(capacity_per_day=20, max_rounds=60, trials=1))
    assert "merchant_fraud_rate_30d" in result.feature_names
    assert not {"device_fraud_rate_30d", "distinct_devices_30d", "km_from_prev_event"} & set(result.feature_names)
    assert result.metrics["test"]["rows"] > 0


def test_report_renders_with_plots_and_says_plainly_when_lightgbm_loses(tmp_path):
    from ml.report import PLOTS, write_report

    result = trained_result()
    page = write_report(tmp_path / "ok", result=result, manifest={"id": "lgbm-test", "created_at": "today"})
    text = page.read_text()
    assert "Comparison on the test period" in text and "Random forest" in text and "Logistic regression" in text
    for name in PLOTS:
        assert (tmp_path / "ok" / name).read_bytes()[:8] == PNG_SIGNATURE
        assert f"src='{name}'" in text
    markdown = (tmp_path / "ok" / "report.md").read_text()
    assert "| LightGBM |" in markdown and "devices used by this account" in markdown

    losing = dataclasses.replace(result, metrics={**result.metrics, "lightgbm_beats_baselines": False})
    lost = write_report(tmp_path / "lost", result=losing, manifest={"id": "lgbm-test"}).read_text()
    assert "did NOT beat both baselines" in lost


def test_reasons_use_plain_words():
    from scoring.batch.run import top_reasons

    result = trained_result()
    world = small_world()
    X = result.design.matrix(world.head(3000))
    risky = np.argsort(-result.booster.predict(X))[:5]
    reasons = top_reasons(X[risky], result.booster.predict(X[risky], pred_contrib=True), result.feature_names,
                          describe=result.design.describe)
    assert all(reasons)
    assert not any("_" in reason for reason in reasons), reasons  # descriptions, not column names


def test_managers_read_the_report_in_the_app_and_reviewers_cannot(client, champion, manager, reviewer):
    from pathlib import Path

    from ml.report import write_report

    write_report(Path(champion.bundle_path) / "report", result=trained_result(), manifest=champion.manifest)
    url = f"/models/{champion.name}/report/"
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert champion.name in b"".join(page.streaming_content).decode()
    image = client.get(url + "pr_curve.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert client.get(url + "manifest.json").status_code == 404  # only report files are served
