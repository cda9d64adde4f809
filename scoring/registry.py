"""Which model scores live traffic, loaded once per process and refreshed when it changes."""
from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import numpy as np
from django.conf import settings

from ml.bundle import BundleError, load_bundle
from ml.calibration import calibrated_probability
from ml.design import Design
from scoring.models import ModelVersion


class ModelUnavailable(Exception):
    """No champion is registered, or its bundle cannot be loaded."""


@dataclass
class LoadedModel:
    """A registered version ready to score: `predict` takes the matrix in `feature_names`
    order with NaN for missing values; the design's policy fills what it must."""

    version_id: int
    version_name: str
    booster: lightgbm.Booster
    feature_names: list[str]
    thresholds: dict[str, float]
    manifest: dict[str, Any]
    design: Design = field(default=None)  # type: ignore[assignment]  # set from the manifest
    _explainer: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: the raw log-odds through the manifest's calibration."""
        # One thread: web workers already use every core, and OpenMP threads spinning
        # beside them cost more than a request's few hundred trees.
        raw = self.booster.predict(self.design.fill(matrix), raw_score=True, num_threads=1)
        return calibrated_probability(self.manifest.get("calibration"), raw)

    def explainer(self):
        # Building a TreeExplainer walks every tree; do it once per loaded model.
        with self._lock:
            if self._explainer is None:
                from ml.explain import make_explainer

                self._explainer = make_explainer(self.booster)
            return self._explainer


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"model": None, "checked_at": 0.0, "error": None}
_by_version: dict[int, LoadedModel] = {}


def load_version(version: ModelVersion) -> LoadedModel:
    """Load (or reuse) the bundle of one registered version."""
    cached = _by_version.get(version.pk)
    if cached is not None:
        # Thresholds can be re-cut on live traffic without a new bundle (learning.tier_watch).
        cached.thresholds = _thresholds(version, cached.manifest)
        return cached
    try:
        bundle = load_bundle(version.bundle_path)
    except BundleError as exc:
        raise ModelUnavailable(f"model {version.name} cannot be loaded: {exc}") from exc
    loaded = LoadedModel(
        version_id=version.pk,
        version_name=version.name,
        booster=bundle.booster,
        feature_names=bundle.feature_names,
        thresholds=_thresholds(version, bundle.manifest),
        manifest=bundle.manifest,
        design=bundle.design,
    )
    _by_version[version.pk] = loaded
    # A model lives as long as the process scores with it: like the start-up objects
    # (config/wsgi.py), keep its objects out of the full collections that would pause requests.
    gc.collect()
    gc.freeze()
    return loaded


def _thresholds(version: ModelVersion, manifest: dict[str, Any]) -> dict[str, float]:
    """The version's current thresholds: as re-cut on live traffic, else as trained."""
    current = version.thresholds or manifest["thresholds"]
    return {"medium": float(current["medium"]), "high": float(current["high"])}


def champion_model() -> LoadedModel:
    """The champion, re-checked against the database at most every MODEL_CACHE_SECONDS."""
    now = time.monotonic()
    with _cache_lock:
        fresh = now - _cache["checked_at"] < settings.MODEL_CACHE_SECONDS
        if fresh and _cache["model"] is not None:
            return _cache["model"]
        if fresh and _cache["error"] is not None:
            raise ModelUnavailable(_cache["error"])
        version = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
        try:
            if version is None:
                raise ModelUnavailable("no champion model is registered; run `python manage.py train`")
            model = load_version(version)
        except ModelUnavailable as exc:
            _cache.update(model=None, error=str(exc), checked_at=now)
            raise
        _cache.update(model=model, error=None, checked_at=now)
        return model


def forget_loaded_models() -> None:
    """Drop every cached model (after a promotion in this process, and in tests)."""
    with _cache_lock:
        _cache.update(model=None, error=None, checked_at=0.0)
        _by_version.clear()
