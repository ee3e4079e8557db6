"""The estimator: pure array functions from a `RecordBatch` to SoH, grade and value (filled in below)."""

from bench.estimate.errors import EstimateInputError
from bench.estimate.fit import EcmFit, fit_ecm

__all__ = ["EcmFit", "EstimateInputError", "fit_ecm"]
