"""The model report: one page per trained version for the people who rely on the model.

`write_report` writes `report.md`, `report.html` and PNG plots (precision-recall and ROC
curves, calibration, score distribution by class, global SHAP importance) into one
folder. Everything it says comes from the training result and the manifest, so the
report of a version always matches the bundle that scores.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from ml.calibration import reliability_curve
from ml.features import FEATURES

PLOTS = {
    "pr_curve.png": "Precision-recall curves on the test period",
    "roc_curve.png": "ROC curves on the test period",
    "calibration.png": "Calibration: predicted probability against observed fraud share",
    "score_distribution.png": "Calibrated probability by true class (test period)",
    "shap_importance.png": "Global SHAP importance (mean |SHAP| in log-odds)",
}
LABELS = {"lightgbm": "LightGBM", "logistic_regression": "Logistic regression", "random_forest": "Random forest"}
DPI = 80  # small PNGs: the report is read on screen
REPORT_FILES = ("report.html", "report.md", *PLOTS)


def write_report(directory: Path | str, *, result: Any, manifest: Mapping[str, Any]) -> Path:
    """Write report.md, report.html and the plots into `directory`; returns the HTML path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _plots(directory, result)
    sections = _sections(result, manifest)
    (directory / "report.md").write_text(_markdown(sections))
    html_path = directory / "report.html"
    html_path.write_text(_html(sections, manifest))
    return html_path


# --------------------------------------------------------------------------- plots


def _plots(directory: Path, result: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display; loaded here so serving a report never imports it
    import matplotlib.pyplot as plt

    ev = result.evaluation
    y = np.asarray(ev["y_test"])
    probs: dict[str, np.ndarray] = ev["p_test"]

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in probs.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ap = result.metrics["candidates"][name].get("average_precision", float("nan"))
        ax.step(recall, precision, where="post", label=f"{LABELS.get(name, name)} (AP {ap:.3f})")
    ax.axhline(y.mean(), color="grey", linestyle=":", label=f"fraud share {y.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02), title="Precision-recall, test period")
    ax.legend(fontsize=8)
    _save(fig, directory / "pr_curve.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in probs.items():
        fpr, tpr, _ = roc_curve(y, p)
        auc = result.metrics["candidates"][name].get("roc_auc", float("nan"))
        ax.plot(fpr, tpr, label=f"{LABELS.get(name, name)} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test period")
    ax.legend(fontsize=8)
    _save(fig, directory / "roc_curve.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    for label, p in (("calibrated", probs["lightgbm"]), ("before calibration", ev["raw_p_test"])):
        mean_p, observed, _ = reliability_curve(y, np.asarray(p), bins=10)
        ax.plot(mean_p, observed, marker="o", label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(xscale="symlog", yscale="symlog", xlabel="mean predicted probability", ylabel="observed fraud share",
           title="Calibration, test period (deciles)")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize=8)
    _save(fig, directory / "calibration.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    p = np.asarray(probs["lightgbm"])
    bins = np.logspace(np.log10(max(p.min(), 1e-6)), 0, 40)
    ax.hist(np.maximum(p[y == 0], 1e-6), bins=bins, alpha=0.6, label="legitimate")
    ax.hist(np.maximum(p[y == 1], 1e-6), bins=bins, alpha=0.6, label="fraud")
    for tier, value in result.thresholds.items():
        ax.axvline(value, color="black", linestyle="--", linewidth=0.8)
        ax.text(value, ax.get_ylim()[1] * 0.9, f" {tier}", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="calibrated probability", ylabel="events", title="Scores by class, test period")
    ax.legend(fontsize=8)
    _save(fig, directory / "score_distribution.png")

    top = result.importance[:15][::-1]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.barh([t["feature"] for t in top], [t["mean_abs_shap"] for t in top], color="#4a7ab0")
    ax.set(xlabel="mean |SHAP value| (log-odds)", title="What drives the model (test sample)")
    ax.tick_params(axis="y", labelsize=7)
    _save(fig, directory / "shap_importance.png")


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


# --------------------------------------------------------------------------- text


def feature_meaning(template: str) -> str:
    """A feature's description template with its value left out: '… devices used by this account'."""
    text = re.sub(r"\{value_yesno\}\s*", "whether it is ", template)
    text = text.replace("whether it is not at night", "whether it is at night")
    text = re.sub(r"\{value[^}]*\}", "…", text)
    return text


def _sections(result: Any, manifest: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """The report as (heading, blocks); a block is a paragraph string, a table or an image."""
    m = result.metrics
    cands = m["candidates"]
    beats = m["lightgbm_beats_baselines"]
    lgbm_ap = cands["lightgbm"].get("average_precision", float("nan"))
    verdict = (
        f"LightGBM beats both baselines on average precision in the test period ({lgbm_ap:.4f})."
        if beats
        else "LightGBM did NOT beat both baselines on average precision in the test period; "
        "consider the simpler model or more data before promoting this version."
    )
    comparison = [["model", "ROC AUC", "average precision", "precision @ high", "recall @ high", "F1 @ high",
                   "precision @ medium", "recall @ medium", f"top-{cands['lightgbm'].get('top_k_accounts', {}).get('k', '')} accounts/day precision",
                   "expected savings"]]
    for name, c in cands.items():
        high, medium = c.get("high_tier", {}), c.get("medium_tier", {})
        comparison.append([
            LABELS.get(name, name), f"{c.get('roc_auc', float('nan')):.4f}", f"{c.get('average_precision', float('nan')):.4f}",
            f"{high.get('precision', 0):.3f}", f"{high.get('recall', 0):.3f}", f"{high.get('f1', 0):.3f}",
            f"{medium.get('precision', 0):.3f}", f"{medium.get('recall', 0):.3f}",
            f"{c.get('top_k_accounts', {}).get('precision', float('nan')):.3f}",
            f"{c.get('savings', {}).get('expected_savings', float('nan')):,.0f}",
        ])
    test = cands["lightgbm"]
    tiers = [["tier", "threshold (calibrated probability)", "events flagged", "precision", "recall", "F1"]]
    for tier in ("high", "medium"):
        t = test.get(f"{tier}_tier", {})
        tiers.append([tier, f"{result.thresholds[tier]:.4g}", f"{t.get('flagged', 0):,}", f"{t.get('precision', 0):.3f}",
                      f"{t.get('recall', 0):.3f}", f"{t.get('f1', 0):.3f}"])
    savings = test.get("savings", {})
    tuning = [["trial", "parameters changed", "validation AP", "trees", "seconds"]]
    for i, trial in enumerate(result.tuning, 1):
        tuning.append([str(i), ", ".join(f"{k}={v}" for k, v in trial["params"].items()), f"{trial['validation_ap']:.3f}",
                       str(trial["rounds"]), f"{trial['seconds']:.1f}"])
    features = [["feature", "what it measures"]]
    specs = {s.name: s for s in FEATURES}
    inputs = {spec.name: spec for spec in result.design.inputs}
    for name in result.feature_names:
        if name in inputs:
            spec = inputs[name]
            kind = {"category": f"a category ({len(spec.levels)} levels seen ≥ 30 times, the rest grouped)",
                    "date": "days from that date to the event", "number": "a number"}[spec.kind]
            features.append([name, f"the event's own {spec.source.replace('_', ' ')}: {kind}"])
        else:
            features.append([name, feature_meaning(specs[name].describe)])
    importance = [["feature", "mean |SHAP|"]] + [[t["feature"], f"{t['mean_abs_shap']:.4f}"] for t in result.importance[:15]]
    rows, periods = result.rows, result.periods

    return [
        ("Summary", [
            f"Version {manifest.get('id', '')}, trained {manifest.get('created_at', '')} on {rows.get('events', 0):,} events "
            f"({rows.get('labeled', 0):,} labeled), {len(result.feature_names)} features.",
            verdict,
            f"Reviewing the high tier in the test period would have caught {savings.get('fraud_amount_caught', 0):,.0f} of "
            f"{savings.get('fraud_amount', 0):,.0f} in fraud for {savings.get('review_cost', 0):,.0f} of review cost: "
            f"expected savings {savings.get('expected_savings', 0):,.0f} ({savings.get('per_day', 0):,.0f} a day).",
        ]),
        ("Process", [
            "1. Events (imported history and live traffic) are stored with their labels: imported `is_fraud` with the time "
            "it became known, and reviewer decisions (flag = fraud, clear = legitimate; the latest decision wins).",
            "2. Point-in-time features are computed for every event from what was known before it, labels included.",
            "3. The labeled events are split by time into train, validation and test periods.",
            "4. Logistic regression, random forest and LightGBM are trained on the same features; LightGBM is early-stopped "
            "on validation and tuned over a small grid within a time budget.",
            "5. LightGBM's probabilities are calibrated on validation (Platt scaling), and the tier thresholds are cut so the "
            "high tier is about what the review team handles a day.",
            "6. All three are measured on the test period; the bundle (model file + manifest) is registered as a version.",
        ]),
        ("Features in plain words", [features]),
        ("Validation method", [
            f"Train {periods.get('train', '')} ({rows.get('train', 0):,} labeled events), validation {periods.get('validation', '')} "
            f"({rows.get('validation', 0):,}), test {periods.get('test', '')} ({rows.get('test', 0):,}).",
            "Training events whose label was not yet known when the validation period began are left out, as they would be "
            "for a model trained on that day. Entity fraud rates use only labels known before each event.",
        ]),
        ("Tuning", ["LightGBM trials in order (the first is the default); the best validation average precision wins.", tuning]),
        ("Comparison on the test period", [comparison,
            "Each model's tiers are cut from its own validation scores at the same daily review capacity."]),
        ("Curves", [("pr_curve.png", PLOTS["pr_curve.png"]), ("roc_curve.png", PLOTS["roc_curve.png"])]),
        ("Calibration", [
            f"Platt scaling on validation: slope {result.calibration['slope']:.3f}, intercept {result.calibration['intercept']:.3f}. "
            f"Brier score on the test period {test.get('brier', float('nan')):.4f}.",
            ("calibration.png", PLOTS["calibration.png"]),
            ("score_distribution.png", PLOTS["score_distribution.png"]),
        ]),
        ("Precision per tier", [tiers]),
        ("Global importance (SHAP)", [("shap_importance.png", PLOTS["shap_importance.png"]), importance]),
        ("Complexity and interpretability", [
            "Logistic regression is the easiest to explain (one weight per feature) but cannot combine signals such as "
            "'new device at night in a new country'. Random forest and LightGBM can; LightGBM is also the fastest to score "
            "and ships as one text file. Every LightGBM score is explained with SHAP values turned into plain-words reasons, "
            "which keeps the stronger model reviewable case by case.",
        ]),
        ("Limitations", [
            "Labels arrive late: fraud from the last days before training is under-represented, and the newest patterns "
            "are learned only once they have been labeled.",
            "Entity fraud rates need labeled history on the same device, IP or merchant; new entities start unknown.",
            "Ring size is the group of accounts linked through shared devices or IPs as of midnight UTC: links made "
            "earlier the same day count only from the next day on, and devices of more than 10 accounts or addresses "
            "of more than 5 (gateways, shared terminals) link nobody.",
            "Test metrics come from one time period; a period with a new kind of fraud can look very different.",
        ]),
        ("Next steps", [
            "Retrain as reviewer decisions accumulate; compare this version's report with the champion's before promoting.",
            "Watch drift of the top features in the global importance table.",
        ]),
    ]


def _markdown(sections: list[tuple[str, list[Any]]]) -> str:
    lines = ["# Model report", ""]
    for heading, blocks in sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, tuple):
                lines += [f"![{block[1]}]({block[0]})", ""]
            else:
                lines.append("| " + " | ".join(block[0]) + " |")
                lines.append("|" + "---|" * len(block[0]))
                lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block[1:]]
                lines.append("")
    return "\n".join(lines)


def _html(sections: list[tuple[str, list[Any]]], manifest: Mapping[str, Any]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Model report {e(str(manifest.get('id', '')))}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%;margin:.5rem 0}figure{margin:0}figcaption{font-size:.85rem;color:#555}</style>",
        "</head><body>",
        f"<h1>Model report {e(str(manifest.get('id', '')))}</h1>",
    ]
    for heading, blocks in sections:
        parts.append(f"<h2>{e(heading)}</h2>")
        for block in blocks:
            if isinstance(block, str):
                parts.append(f"<p>{e(block)}</p>")
            elif isinstance(block, tuple):
                parts.append(f"<figure><img src='{e(block[0])}' alt='{e(block[1])}'><figcaption>{e(block[1])}</figcaption></figure>")
            else:
                parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in block[0]) + "</tr>")
                parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block[1:]]
                parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
