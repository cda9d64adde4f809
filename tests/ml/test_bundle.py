"""Model bundles: written atomically, refused when corrupt or mismatched."""
from __future__ import annotations

import json

import pytest

from ml.bundle import BundleCorrupt, BundleMismatch, BundleMissing, load_bundle, save_bundle
from tests.support.factories import trained_result


def _save(tmp_path, **manifest_changes):
    result = trained_result()
    manifest = {**result.manifest(), **manifest_changes}
    return save_bundle(tmp_path / "m1", result.booster, manifest)


def test_saved_bundle_loads_and_predicts_the_same(tmp_path):
    import numpy as np

    path = _save(tmp_path)
    assert not (tmp_path / "m1.part").exists()
    bundle = load_bundle(path)
    X = np.zeros((1, len(bundle.feature_names)))
    assert bundle.booster.predict(X)[0] == pytest.approx(trained_result().booster.predict(X)[0])


def test_tampered_model_file_is_refused(tmp_path):
    path = _save(tmp_path)
    (path / "model.txt").write_text((path / "model.txt").read_text().replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(BundleCorrupt, match="checksum"):
        load_bundle(path)


def test_unknown_feature_is_refused(tmp_path):
    path = _save(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["features"][0]["name"] = "favourite_colour"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleMismatch, match="favourite_colour"):
        load_bundle(path)


def test_other_format_version_is_refused(tmp_path):
    path = _save(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleMismatch, match="format"):
        load_bundle(path)


def test_missing_bundle_is_reported(tmp_path):
    with pytest.raises(BundleMissing):
        load_bundle(tmp_path / "nothing-here")
