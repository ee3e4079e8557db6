"""`SohModel`: the calibrated quick-test SoH model, and its JSON file.

A ridge regression on standardised features with a prediction interval taken from
grouped cross-validated residual quantiles. Plain JSON, so that another system can read
the coefficients without this package; versioned, so that an old reader refuses a newer
file instead of misreading it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.estimate.errors import EstimateInputError

MODEL_KIND = "bench.soh-model"
# Version 2: features refer R0 and the arcs to 25 °C with separate activation energies,
# |Z| features come from the measured spectrum, and the training range is stored; a
# version 1 model was fitted on differently normalised features, so it is refused.
MODEL_VERSION = 2
# A feature counts as outside the training range when it lies beyond [low, high] by more
# than this share of the range (ranges from a few dozen cells are themselves uncertain).
RANGE_TOLERANCE = 0.1
# Interval half-widths are multiplied by this for a record with a feature outside the range:
# the CV residuals say nothing about extrapolation, so the interval must not pretend to.
EXTRAPOLATION_WIDENING = 2.0


@dataclass(frozen=True)
class Prediction:
    """(n,) SoH and interval, and (n, k) which features lay outside the training range (and were clipped)."""

    soh: np.ndarray
    soh_low: np.ndarray
    soh_high: np.ndarray
    outside: np.ndarray

    @property
    def extrapolated(self) -> np.ndarray:
        return self.outside.any(axis=1)


@dataclass(frozen=True)
class SohModel:
    """SoH = intercept + sum(coef * (x - center) / scale); interval = prediction + [residual_low, residual_high]."""

    feature_names: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    residual_low: float  # lower residual quantile from grouped cross-validation
    residual_high: float
    interval_nominal: float = 0.9
    ridge_alpha: float = 1.0
    feature_low: tuple[float, ...] = ()  # per feature, the smallest value seen in training (NaN: never seen)
    feature_high: tuple[float, ...] = ()
    training: dict[str, Any] = field(default_factory=dict)
    version: int = MODEL_VERSION

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, k) features in ``feature_names`` order -> (soh, soh_low, soh_high); see ``predict_guarded``."""
        p = self.predict_guarded(features)
        return p.soh, p.soh_low, p.soh_high

    def predict_guarded(self, features: np.ndarray) -> Prediction:
        """Predict with features clipped to the training range; records that needed clipping get a wider interval.

        Why clip: a linear model extrapolates without limit, so one absurd feature (a
        broken fit, an unseen temperature) would otherwise move SoH by tens of points.
        NaN features count as the centre (the model's imputation in training).
        """
        x = np.asarray(features, dtype=float)
        outside = np.zeros(x.shape, dtype=bool)
        if len(self.feature_low) == x.shape[1] == len(self.feature_high):
            low, high = np.array(self.feature_low), np.array(self.feature_high)
            margin = RANGE_TOLERANCE * np.where(np.isfinite(high - low), high - low, 0.0)
            with np.errstate(invalid="ignore"):
                outside = np.isfinite(x) & ((x < low - margin) | (x > high + margin))
            x = np.where(np.isfinite(low) & np.isfinite(high), np.clip(x, low - margin, high + margin), x)
        z = (x - np.array(self.center)) / np.array(self.scale)
        z = np.where(np.isfinite(z), z, 0.0)
        soh = self.intercept + z @ np.array(self.coef)
        widen = np.where(outside.any(axis=1), EXTRAPOLATION_WIDENING, 1.0)
        return Prediction(soh, soh + widen * self.residual_low, soh + widen * self.residual_high, outside)

    def to_json(self) -> str:
        body = {"kind": MODEL_KIND, **asdict(self)}
        # a feature never seen in training has no range: JSON null, read back as NaN
        for key in ("feature_low", "feature_high"):
            body[key] = [v if math.isfinite(v) else None for v in body[key]]
        return json.dumps(body, indent=2, allow_nan=False) + "\n"

    def save(self, path: Path | str) -> None:
        """Write via a temporary file and rename, so a reader never sees half a model."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)


def load_model(path: Path | str) -> SohModel:
    """Read a model written by ``SohModel.save``; anything else raises EstimateInputError (one line)."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not JSON"
        raise EstimateInputError(f"model {path}: {reason}; give a file written by `bench calibrate`") from None
    if not isinstance(body, dict) or body.get("kind") != MODEL_KIND:
        raise EstimateInputError(f"model {path}: not a bench SoH model; give a file written by `bench calibrate`")
    if body.get("version") != MODEL_VERSION:
        raise EstimateInputError(
            f"model {path}: version {body.get('version')!r}, this bench reads version {MODEL_VERSION}; re-run `bench calibrate`"
        )
    try:
        model = SohModel(
            feature_names=tuple(str(n) for n in body["feature_names"]),
            center=tuple(float(v) for v in body["center"]),
            scale=tuple(float(v) for v in body["scale"]),
            coef=tuple(float(v) for v in body["coef"]),
            intercept=float(body["intercept"]),
            residual_low=float(body["residual_low"]),
            residual_high=float(body["residual_high"]),
            interval_nominal=float(body.get("interval_nominal", 0.9)),
            ridge_alpha=float(body.get("ridge_alpha", 1.0)),
            feature_low=tuple(float(v) if v is not None else math.nan for v in body.get("feature_low", ())),
            feature_high=tuple(float(v) if v is not None else math.nan for v in body.get("feature_high", ())),
            training=dict(body.get("training", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EstimateInputError(f"model {path}: missing or bad field {exc}; re-run `bench calibrate`") from None
    k = len(model.feature_names)
    numbers = (*model.center, *model.scale, *model.coef, model.intercept, model.residual_low, model.residual_high)
    ranges_ok = len(model.feature_low) == len(model.feature_high) in (0, k)
    if not (len(model.center) == len(model.scale) == len(model.coef) == k) or not ranges_ok or not all(map(math.isfinite, numbers)):
        raise EstimateInputError(f"model {path}: inconsistent or non-finite coefficients; re-run `bench calibrate`")
    return model
