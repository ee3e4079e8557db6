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
MODEL_VERSION = 1


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
    training: dict[str, Any] = field(default_factory=dict)
    version: int = MODEL_VERSION

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, k) features in ``feature_names`` order -> (soh, soh_low, soh_high); NaN features count as the centre."""
        x = (np.asarray(features, dtype=float) - np.array(self.center)) / np.array(self.scale)
        x = np.where(np.isfinite(x), x, 0.0)
        soh = self.intercept + x @ np.array(self.coef)
        return soh, soh + self.residual_low, soh + self.residual_high

    def to_json(self) -> str:
        body = {"kind": MODEL_KIND, **asdict(self)}
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
            training=dict(body.get("training", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EstimateInputError(f"model {path}: missing or bad field {exc}; re-run `bench calibrate`") from None
    k = len(model.feature_names)
    numbers = (*model.center, *model.scale, *model.coef, model.intercept, model.residual_low, model.residual_high)
    if not (len(model.center) == len(model.scale) == len(model.coef) == k) or not all(map(math.isfinite, numbers)):
        raise EstimateInputError(f"model {path}: inconsistent or non-finite coefficients; re-run `bench calibrate`")
    return model
