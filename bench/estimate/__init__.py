"""The estimator: pure array functions from a `RecordBatch` to SoH, uncertainty, grade and value.

Public API (usable without the CLI; see docs/estimator.md):

- ``fit_ecm(frequency_hz, z, circuit="L-R0-RQ-RQ-W") -> EcmFit``: batched equivalent-circuit fit
- ``lin_kk(frequency_hz, z) -> LinKKResult``: vectorized Kramers-Kronig validity check
- ``discharge_features(series)``, ``pulse_features(series)``: time-domain features on `RaggedSeries`
- ``evaluate(batch, model=None) -> Estimates`` (``.to_rows()`` for JSON/CSV/report)
- ``calibrate(batch, n_folds=5, seed=0) -> (SohModel, CalibrationReport)``
- ``load_model(path) -> SohModel``; ``SohModel.save(path)``
- ``EstimateInputError``: input the user can fix; its message is one line
"""

from bench.estimate.errors import EstimateInputError
from bench.estimate.evaluate import Estimates, evaluate
from bench.estimate.features import DischargeFeatures, PulseFeatures, discharge_features, pulse_features
from bench.estimate.fit import EcmFit, fit_ecm
from bench.estimate.kk import LinKKResult, lin_kk
from bench.estimate.model import SohModel, load_model
from bench.estimate.soh import CalibrationReport, calibrate

__all__ = [
    "CalibrationReport",
    "DischargeFeatures",
    "EcmFit",
    "Estimates",
    "EstimateInputError",
    "LinKKResult",
    "PulseFeatures",
    "SohModel",
    "calibrate",
    "discharge_features",
    "evaluate",
    "fit_ecm",
    "lin_kk",
    "load_model",
    "pulse_features",
]
