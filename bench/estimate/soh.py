"""State of health three ways: measured, calibrated (SohModel), fallback (resistance growth).

- measured: the record holds a discharge that reached the cutoff; SoH = capacity / nominal.
- calibrated: a ridge regression on log-features of the quick test, fitted by
  ``calibrate`` on records that carry a reference capacity, validated by cell
  (grouped k-fold: a cell never sits in the training and the test fold at once, since
  its records are not independent), with a 90 % interval from cross-validated residuals.
- fallback: no model; SoH from resistance growth with a deliberately wide interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.estimate.analysis import (
    FEATURE_FREQUENCIES_HZ,
    REFERENCE_TEMPERATURE_C,
    Analysis,
    analyse,
)
from bench.estimate.errors import EstimateInputError
from bench.estimate.model import RANGE_TOLERANCE, SohModel
from bench.records import RecordBatch

MEASURED_HALF_WIDTH = 0.02  # capacity-test uncertainty (current accuracy, rate, temperature), as SoH fraction
# Fallback: SoH falls by FALLBACK_SLOPE per unit of resistance growth above 1. The usual
# end-of-first-life pairing for Li-ion cells is 80 % capacity at about 1.5x the initial
# resistance (slope 0.4); real cells scatter widely around it (1.3-2x), hence the
# deliberately wide +/- 0.15 interval and the "uncalibrated" warning.
FALLBACK_SLOPE = 0.4
FALLBACK_HALF_WIDTH = 0.15
FALLBACK_MAX_SOH = 1.05  # upper end of the interval: more than 105 % of nominal is not plausible
FALLBACK_WARNING = "uncalibrated: low confidence"
# Ridge penalties tried (on standardised features); grouped CV picks one. The choice
# uses the same folds as the reported error, which makes that error slightly optimistic.
RIDGE_ALPHAS = (0.01, 0.1, 1.0, 10.0)
INTERVAL_NOMINAL = 0.9


def feature_names() -> tuple[str, ...]:
    freqs = tuple(f"log_z_{f:g}hz_rel" for f in FEATURE_FREQUENCIES_HZ)
    return ("r0_rel", "log_r0_rel", "log_r1_rel", "log_r2_rel", *freqs, "inv_temperature_rel", "soc")


def quick_test_features(batch: RecordBatch, analysis: Analysis) -> np.ndarray:
    """(n, k) features in ``feature_names()`` order: log resistances relative to the cell type's R0 at 25 °C
    (R0 with the ohmic activation energy, the arcs with the charge-transfer one; the arcs are NaN where the fit is
    not trusted, ``analysis.fit_ok``), log |Z| of the measured spectrum at fixed frequencies (no fit needed),
    temperature as 1000/T - 1000/T_ref, SOC (measured, else from OCV: `analysis.soc`; NaN where unknown, which
    the model treats as its training centre). `calibrate` and `evaluate` both call this, so a model sees the same
    features in training and in use."""
    ref = np.asarray(batch.reference_r0_ohm, dtype=float)[:, None]
    r = np.column_stack([analysis.r0_25_ohm, analysis.r_arc_25_ohm])
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(np.column_stack([r, analysis.z_abs_at]) / ref)
        t_k = np.asarray(batch.temperature_c, dtype=float) + 273.15
        inv_t = 1000 / t_k - 1000 / (REFERENCE_TEMPERATURE_C + 273.15)
    return np.column_stack([np.exp(logs[:, 0]), logs, inv_t, np.asarray(analysis.soc, dtype=float)])


def fallback_soh(resistance_growth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    soh = np.clip(1 - FALLBACK_SLOPE * (resistance_growth - 1), 0.0, 1.0)
    return soh, np.clip(soh - FALLBACK_HALF_WIDTH, 0.0, None), np.minimum(soh + FALLBACK_HALF_WIDTH, FALLBACK_MAX_SOH)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median centre and standard deviation per feature; a feature never measured (all NaN) gets 0 and 1."""
    seen = np.isfinite(x).sum(axis=0) >= 2
    filled = np.where(seen, x, 0.0)
    center = np.nanmedian(filled, axis=0)
    center = np.where(np.isfinite(center), center, 0.0)
    scale = np.nanstd(filled, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return center, scale


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Ridge regression on standardised features; NaN features are imputed by the centre (0 after scaling)."""
    center, scale = _standardise(x)
    xs = np.nan_to_num((x - center) / scale)
    y_mean = float(np.mean(y))
    coef = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ (y - y_mean))
    return center, scale, coef, y_mean


def _predict(center, scale, coef, intercept, x):
    return intercept + np.nan_to_num((x - center) / scale) @ coef


def _clip_to_range(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """x clipped per feature to the training rows' range (plus RANGE_TOLERANCE), as ``SohModel`` does in use."""
    seen = np.isfinite(train).any(axis=0)
    low = np.nanmin(np.where(seen, train, 0.0), axis=0)
    high = np.nanmax(np.where(seen, train, 0.0), axis=0)
    margin = RANGE_TOLERANCE * (high - low)
    return np.where(seen, np.clip(x, low - margin, high + margin), x)


def group_folds(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per record, all records of one group (cell) in the same fold; groups shuffled by seed."""
    unique, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = np.empty(len(unique), dtype=np.int64)
    fold_of_group[order] = np.arange(len(unique)) % n_folds
    return fold_of_group[inverse]


@dataclass(frozen=True)
class CalibrationReport:
    n_records: int
    n_cells: int
    n_folds: int
    mae: float
    rmse: float
    coverage: float
    interval_nominal: float
    mean_interval_width: float
    ridge_alpha: float

    def summary(self) -> str:
        return (
            f"calibrated on {self.n_records} record(s) of {self.n_cells} cell(s); "
            f"{self.n_folds}-fold cross-validation grouped by cell (ridge alpha {self.ridge_alpha:g}):\n"
            f"  SoH MAE {100 * self.mae:.2f} points, RMSE {100 * self.rmse:.2f} points\n"
            f"  {100 * self.interval_nominal:.0f} % interval: coverage {100 * self.coverage:.1f} % "
            f"(each fold's interval from the other folds' residuals), mean width {100 * self.mean_interval_width:.1f} points"
        )


def calibrate(batch: RecordBatch, n_folds: int = 5, seed: int = 0) -> tuple[SohModel, CalibrationReport]:
    """Fit the quick-test SoH model on records with a reference capacity; validate by cell."""
    if n_folds < 2:
        raise EstimateInputError(f"calibrate: n_folds={n_folds}; use at least 2 folds")
    analysis = analyse(batch)
    x_all = quick_test_features(batch, analysis)
    ref_cap = np.asarray(batch.reference_capacity_ah, dtype=float)
    nominal = np.asarray(batch.nominal_capacity_ah, dtype=float)
    usable = (
        np.isfinite(ref_cap) & (nominal > 0) & np.isfinite(x_all[:, 0])
        & (np.asarray(batch.status, dtype=str) == "complete") & ~(analysis.has_spectrum & ~analysis.kk_passed)
    )
    if not np.isfinite(ref_cap).any():
        raise EstimateInputError(
            "calibrate: no record carries a reference capacity; calibrate on records from a capacity test "
            "or imported with one (bench import csv)"
        )
    cells = np.asarray(batch.cell_id, dtype=str)[usable]
    n_cells = len(np.unique(cells))
    if n_cells < 2 * n_folds:
        raise EstimateInputError(
            f"calibrate: {n_cells} cell(s) have a reference capacity and a usable quick test, "
            f"{2 * n_folds} needed for {n_folds}-fold validation by cell; add reference records or lower --folds"
        )
    x, y = x_all[usable], ref_cap[usable] / nominal[usable]
    folds = group_folds(cells, n_folds, seed)
    best: tuple[float, float, np.ndarray] | None = None
    for alpha in RIDGE_ALPHAS:  # the shrinkage with the lowest cross-validated RMSE
        pred = np.empty(len(y))
        for k in range(n_folds):  # loop over folds, each a whole-batch fit
            test = folds == k
            center, scale, coef, b = _ridge(x[~test], y[~test], alpha)
            pred[test] = _predict(center, scale, coef, b, _clip_to_range(x[test], x[~test]))
        rmse = float(np.sqrt(np.mean((y - pred) ** 2)))
        if best is None or rmse < best[0]:
            best = (rmse, alpha, pred)
    _, ridge_alpha, pred = best
    resid = y - pred
    q_lo, q_hi = (1 - INTERVAL_NOMINAL) / 2, (1 + INTERVAL_NOMINAL) / 2
    covered = np.zeros(len(y), dtype=bool)
    widths = np.zeros(len(y))
    for k in range(n_folds):
        test = folds == k
        lo, hi = np.quantile(resid[~test], [q_lo, q_hi])
        covered[test] = (resid[test] >= lo) & (resid[test] <= hi)
        widths[test] = hi - lo
    lo, hi = np.quantile(resid, [q_lo, q_hi])
    report = CalibrationReport(
        int(len(y)), n_cells, n_folds, float(np.mean(np.abs(resid))), float(np.sqrt(np.mean(resid**2))),
        float(covered.mean()), INTERVAL_NOMINAL, float(widths.mean()), ridge_alpha,
    )
    center, scale, coef, b = _ridge(x, y, ridge_alpha)
    seen = np.isfinite(x).any(axis=0)
    with np.errstate(invalid="ignore"):
        feature_low = np.where(seen, np.nanmin(np.where(seen, x, 0.0), axis=0), np.nan)
        feature_high = np.where(seen, np.nanmax(np.where(seen, x, 0.0), axis=0), np.nan)
    model = SohModel(
        feature_names=feature_names(),
        center=tuple(map(float, center)),
        scale=tuple(map(float, scale)),
        coef=tuple(map(float, coef)),
        intercept=b,
        residual_low=float(lo),
        residual_high=float(hi),
        interval_nominal=INTERVAL_NOMINAL,
        ridge_alpha=ridge_alpha,
        feature_low=tuple(map(float, feature_low)),
        feature_high=tuple(map(float, feature_high)),
        training={
            "n_records": report.n_records, "n_cells": n_cells, "n_folds": n_folds, "seed": seed,
            "ridge_alpha": ridge_alpha, "cv_mae": report.mae, "cv_rmse": report.rmse, "cv_coverage": report.coverage,
        },
    )
    return model, report
