"""State of charge at measurement time: as measured, else read off the cell type's OCV curve.

Why: impedance depends on SOC (the charge-transfer arc grows steeply towards empty), so
the calibrated SoH model takes SOC as a feature. Few records carry a measured SOC, but
nearly all carry an open-circuit voltage from the profile's `ocv` step; a cell type
with an `[ocv]` table (SOC against rested OCV) turns that voltage into SOC.

The curve is inverted by linear interpolation, one `np.interp` per cell type (group of
records sharing grading rules and cell type), never per record. A voltage more than
`OCV_TOLERANCE_V` outside the table is not trusted (wrong cell type, a lead problem, a
cell far outside its window) and gives NaN; within the tolerance it counts as the end
of the table. On a flat part of the curve (LFP between ~15 % and ~90 %) a few mV of
relaxation or temperature move the estimate a lot: it is filled all the same, and
docs/estimator.md says how far to trust it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.records import RecordBatch

OCV_TOLERANCE_V = 0.050  # how far outside the OCV table a voltage may lie and still be read as its end
SOC_MEASURED = "measured"
SOC_FROM_OCV = "ocv"
SOC_UNKNOWN = ""


@dataclass(frozen=True)
class OcvCurve:
    """A cell type's open-circuit voltage curve: `voltage_v[i]` at `soc[i]` (both ascending)."""

    soc: np.ndarray
    voltage_v: np.ndarray

    @classmethod
    def from_cell_type(cls, cell_type: Any) -> "OcvCurve | None":
        """The curve of a stored cell type (its `ocv_soc`/`ocv_voltage_v`), or None if it has no usable one.

        A table that could not have passed the cell type's validation (e.g. a file edited
        by hand) is treated as absent rather than trusted: SOC then stays unknown.
        """
        if not isinstance(cell_type, Mapping):
            return None
        try:
            soc = np.asarray(cell_type.get("ocv_soc", ()), dtype=float).ravel()
            voltage_v = np.asarray(cell_type.get("ocv_voltage_v", ()), dtype=float).ravel()
        except (TypeError, ValueError):
            return None
        usable = (
            soc.size >= 2 and soc.size == voltage_v.size and np.isfinite(soc).all() and np.isfinite(voltage_v).all()
            and bool(np.all(np.diff(soc) > 0)) and bool(np.all(np.diff(voltage_v) >= 0))
            and soc[0] >= 0.0 and soc[-1] <= 1.0
        )
        return cls(soc, voltage_v) if usable else None


def soc_from_ocv(ocv_v: np.ndarray, curve: OcvCurve, tolerance_v: float = OCV_TOLERANCE_V) -> np.ndarray:
    """SOC (0..1) for each open-circuit voltage, by inverting `curve`; NaN for NaN or far-outside voltages.

    Runs of equal voltage in the table (a perfectly flat stretch) collapse to one point
    at their mean SOC, so that the inverse is a function.
    """
    voltage = np.asarray(ocv_v, dtype=float)
    unique_v, inverse = np.unique(curve.voltage_v, return_inverse=True)
    mean_soc = np.bincount(inverse, weights=curve.soc) / np.bincount(inverse)
    soc = np.clip(np.interp(voltage, unique_v, mean_soc), 0.0, 1.0)
    inside = (voltage >= unique_v[0] - tolerance_v) & (voltage <= unique_v[-1] + tolerance_v)
    return np.where(inside, soc, np.nan)  # NaN voltages fail both comparisons


@dataclass(frozen=True)
class SocEstimate:
    """Per record: the SOC the estimator uses, and where it came from ("measured", "ocv" or "")."""

    soc: np.ndarray  # (n,) 0..1, NaN where unknown
    source: np.ndarray  # (n,) str


def record_soc(batch: RecordBatch) -> SocEstimate:
    """A measured SOC where the record has one; else from its OCV and its cell type's OCV curve; else NaN.

    Cell types come from the batch's rules (`rules_by_key[key]["cell_type"]`), one per
    rules key, so the loop runs over the few cell types in the batch, not over records.
    """
    n = batch.n_records
    measured = np.asarray(batch.soc, dtype=float).reshape(n)
    ocv_v = np.asarray(batch.ocv_v, dtype=float).reshape(n)
    keys = np.asarray(batch.rules_key, dtype=str).reshape(n)
    soc = np.where(np.isfinite(measured), measured, np.nan)
    source = np.where(np.isfinite(measured), SOC_MEASURED, SOC_UNKNOWN).astype(object)
    wanted = ~np.isfinite(measured) & np.isfinite(ocv_v)
    for key, rules in (batch.rules_by_key or {}).items():  # one pass per cell type
        curve = OcvCurve.from_cell_type(rules.get("cell_type") if isinstance(rules, Mapping) else None)
        rows = np.flatnonzero(wanted & (keys == key))
        if curve is None or rows.size == 0:
            continue
        estimate = soc_from_ocv(ocv_v[rows], curve)
        soc[rows] = estimate
        source[rows[np.isfinite(estimate)]] = SOC_FROM_OCV
    return SocEstimate(soc, source.astype(str))
