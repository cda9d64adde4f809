"""A model bundle: the LightGBM model file plus a JSON manifest, written atomically.

Loading checks the manifest against this code (format version, feature names, library
major versions) and the model file against its recorded checksum, and refuses any
mismatch with a typed error instead of scoring with the wrong model.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy
import sklearn

from ml.calibration import calibrated_probability, check_calibration
from ml.design import Design
from ml.features import FEATURE_NAMES

# 2: the manifest carries the probability calibration (Platt slope and intercept).
FORMAT_VERSION = 2
MODEL_FILE = "model.txt"
MANIFEST_FILE = "manifest.json"


class BundleError(Exception):
    """The bundle cannot be used; the message says why."""


class BundleMissing(BundleError):
    pass


class BundleCorrupt(BundleError):
    pass


class BundleMismatch(BundleError):
    pass


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]
    booster: lightgbm.Booster

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.manifest["features"]]

    @property
    def design(self) -> Design:
        return Design.from_manifest(self.manifest)

    def predict(self, matrix) -> numpy.ndarray:
        """Calibrated fraud probabilities for rows of features in `feature_names` order
        (missing values as NaN: the design's policy fills what it must)."""
        filled = self.design.fill(numpy.asarray(matrix, dtype="float64"))
        return calibrated_probability(self.manifest["calibration"], self.booster.predict(filled, raw_score=True))


def library_versions() -> dict[str, str]:
    return {"lightgbm": lightgbm.__version__, "numpy": numpy.__version__, "scikit-learn": sklearn.__version__}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(directory: Path, booster: lightgbm.Booster, manifest: dict[str, Any]) -> Path:
    """Write model file and manifest into `directory` (must not exist yet); returns the path.

    Everything goes to `<directory>.part` first and is renamed at the end, so a crash
    never leaves a half-written bundle where a loader could find it.
    """
    directory = Path(directory)
    if directory.exists():
        raise BundleError(f"bundle directory {directory} already exists")
    staging = directory.with_name(directory.name + ".part")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    booster.save_model(str(staging / MODEL_FILE))
    full = dict(manifest)
    full["format_version"] = FORMAT_VERSION
    full["libraries"] = library_versions()
    full["files"] = {MODEL_FILE: sha256_file(staging / MODEL_FILE)}
    with open(staging / MANIFEST_FILE, "w") as handle:
        json.dump(full, handle, indent=2, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, directory)
    return directory


def load_bundle(directory: Path | str) -> Bundle:
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    model_path = directory / MODEL_FILE
    if not manifest_path.exists() or not model_path.exists():
        raise BundleMissing(f"no model bundle at {directory}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleCorrupt(f"manifest at {manifest_path} is unreadable: {exc}") from exc
    check_manifest(manifest)
    expected = manifest.get("files", {}).get(MODEL_FILE)
    if expected != sha256_file(model_path):
        raise BundleCorrupt(f"model file {model_path} does not match the checksum in its manifest")
    try:
        booster = lightgbm.Booster(model_file=str(model_path))
    except lightgbm.basic.LightGBMError as exc:
        raise BundleCorrupt(f"model file {model_path} cannot be read: {exc}") from exc
    names = [f["name"] for f in manifest["features"]]
    if booster.feature_name() != names:
        raise BundleMismatch("model file features differ from the manifest's feature list")
    return Bundle(path=directory, manifest=manifest, booster=booster)


def check_manifest(manifest: dict[str, Any]) -> None:
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleMismatch(
            f"bundle format {manifest.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    features = manifest.get("features")
    if not isinstance(features, list) or not features:
        raise BundleCorrupt("manifest has no feature list")
    inputs = manifest.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and {"name", "source", "kind"} <= set(i) for i in inputs):
        raise BundleCorrupt("manifest's inputs are not a list of {name, source, kind}")
    input_names = {i["name"] for i in inputs}
    unknown = [f.get("name") for f in features if f.get("name") not in FEATURE_NAMES and f.get("name") not in input_names]
    if unknown:
        raise BundleMismatch(f"bundle uses features this code does not compute: {', '.join(map(str, unknown))}")
    trained_with = manifest.get("libraries", {}).get("lightgbm", "")
    if trained_with.split(".")[0] != lightgbm.__version__.split(".")[0]:
        raise BundleMismatch(
            f"bundle was trained with LightGBM {trained_with}, this process has {lightgbm.__version__}"
        )
    thresholds = manifest.get("thresholds", {})
    if not {"medium", "high"} <= set(thresholds):
        raise BundleCorrupt("manifest has no tier thresholds")
    problem = check_calibration(manifest.get("calibration"))
    if problem:
        raise BundleCorrupt(problem)
