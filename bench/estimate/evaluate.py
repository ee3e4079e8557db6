"""`evaluate(batch, model)`: one row per record of SoH, interval, grade, value, method and warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.estimate.analysis import analyse
from bench.estimate.errors import EstimateInputError
from bench.estimate.grading import grade_records
from bench.estimate.kk import DEFAULT_KK_THRESHOLD
from bench.estimate.model import SohModel
from bench.estimate.soh import (
    FALLBACK_WARNING,
    MEASURED_HALF_WIDTH,
    fallback_soh,
    feature_names,
    quick_test_features,
)
from bench.records import RecordBatch

# A predicted SoH outside this range is not credible whatever its interval: graded retest.
CREDIBLE_SOH_RANGE = (0.0, 1.2)


@dataclass(frozen=True)
class Estimates:
    """Arrays, one row per record, in the batch's order."""

    source_file: np.ndarray
    record_key: np.ndarray
    cell_id: np.ndarray
    measurement_id: np.ndarray
    status: np.ndarray
    soh: np.ndarray
    soh_low: np.ndarray
    soh_high: np.ndarray
    grade: np.ndarray
    residual_value: np.ndarray
    currency: np.ndarray
    method: np.ndarray  # measured | calibrated | fallback | none
    warnings: list[list[str]]
    r0_ohm: np.ndarray  # ohmic resistance at 25 °C
    resistance_growth: np.ndarray
    fit_rel_rmse: np.ndarray
    kk_max_residual: np.ndarray
    temperature_c: np.ndarray
    capacity_ah: np.ndarray  # measured discharge capacity, NaN without a complete discharge
    energy_wh: np.ndarray
    dc_resistance_ohm: np.ndarray
    soc: np.ndarray  # state of charge at measurement time, 0..1, NaN where unknown
    soc_source: np.ndarray  # "measured" | "ocv" (read off the cell type's OCV curve) | ""

    @property
    def n_records(self) -> int:
        return len(self.soh)

    def to_rows(self) -> list[dict[str, Any]]:
        """JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
        def num(v: float) -> float | None:
            v = float(v)
            return None if math.isnan(v) or math.isinf(v) else v

        rows = []
        for i in range(self.n_records):  # output formatting, after all the arithmetic
            rows.append(
                {
                    "source_file": str(self.source_file[i]),
                    "record_key": str(self.record_key[i]),
                    "cell_id": str(self.cell_id[i]),
                    "measurement_id": str(self.measurement_id[i]),
                    "status": str(self.status[i]),
                    "soh": num(self.soh[i]),
                    "soh_low": num(self.soh_low[i]),
                    "soh_high": num(self.soh_high[i]),
                    "grade": str(self.grade[i]),
                    "residual_value": num(self.residual_value[i]),
                    "currency": str(self.currency[i]),
                    "method": str(self.method[i]),
                    "warnings": list(self.warnings[i]),
                    "r0_ohm": num(self.r0_ohm[i]),
                    "resistance_growth": num(self.resistance_growth[i]),
                    "fit_rel_rmse": num(self.fit_rel_rmse[i]),
                    "kk_max_residual": num(self.kk_max_residual[i]),
                    "temperature_c": num(self.temperature_c[i]),
                    "capacity_ah": num(self.capacity_ah[i]),
                    "energy_wh": num(self.energy_wh[i]),
                    "dc_resistance_ohm": num(self.dc_resistance_ohm[i]),
                    "soc": num(self.soc[i]),
                    "soc_source": str(self.soc_source[i]),
                }
            )
        return rows


def _add(warnings: list[list[str]], mask: np.ndarray, message: str | np.ndarray) -> None:
    for i in np.flatnonzero(mask):
        warnings[i].append(message if isinstance(message, str) else str(message[i]))


def evaluate(batch: RecordBatch, model: SohModel | None = None) -> Estimates:
    """SoH (measured > calibrated > fallback), 90 % interval, grade and residual value for every record."""
    if model is not None and tuple(model.feature_names) != feature_names():
        raise EstimateInputError(
            f"model features {list(model.feature_names)} differ from this bench's {list(feature_names())}; re-run `bench calibrate`"
        )
    n = batch.n_records
    a = analyse(batch)
    nominal = np.asarray(batch.nominal_capacity_ah, dtype=float)
    status = np.asarray(batch.status, dtype=str)
    warnings: list[list[str]] = [[] for _ in range(n)]

    soh = np.full(n, np.nan)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    method = np.full(n, "none", dtype=object)

    quick = np.isfinite(a.resistance_growth)
    if model is not None:
        features = quick_test_features(batch, a)
        p = model.predict_guarded(features)
        use = quick & np.isfinite(p.soh)
        soh[use], low[use], high[use] = p.soh[use], p.soh_low[use], p.soh_high[use]
        method[use] = "calibrated"
        names = np.array(model.feature_names)
        for i in np.flatnonzero(use & p.extrapolated):  # only the flagged records get a message
            warnings[i].append(
                f"outside the calibration range ({', '.join(names[p.outside[i]])}): clipped to it, interval widened"
            )
    else:
        fb, fb_lo, fb_hi = fallback_soh(a.resistance_growth)
        use = quick
        soh[use], low[use], high[use] = fb[use], fb_lo[use], fb_hi[use]
        method[use] = "fallback"
    no_temperature = quick & ~np.isfinite(np.asarray(batch.temperature_c, dtype=float))
    _add(warnings, no_temperature, "temperature unknown: resistances taken as measured at 25 °C")
    _add(warnings, a.r0_from_pulse & quick, "R0 from the DC pulse (no spectrum): resistance growth overstated")

    measured = a.reached_cutoff & (nominal > 0)
    cap_soh = a.discharge.capacity_ah / np.where(nominal > 0, nominal, np.nan)
    soh[measured] = cap_soh[measured]
    low[measured] = cap_soh[measured] - MEASURED_HALF_WIDTH
    high[measured] = cap_soh[measured] + MEASURED_HALF_WIDTH
    method[measured] = "measured"
    _add(warnings, method == "fallback", FALLBACK_WARNING)
    partial = np.isfinite(a.discharge.capacity_ah) & ~a.reached_cutoff
    _add(warnings, partial, "discharge did not reach the cutoff voltage: capacity not used")

    has_discharge = np.isfinite(a.discharge.capacity_ah)
    not_complete = status != "complete"
    reasons = np.char.add(np.char.add("record ", status), np.where(
        np.asarray(batch.status_reason, dtype=str) != "", np.char.add(": ", np.asarray(batch.status_reason, dtype=str)), ""
    ))
    _add(warnings, not_complete, reasons)
    nothing = ~a.has_spectrum & ~has_discharge
    _add(warnings, nothing, "no spectrum and no discharge: nothing to estimate from")
    kk_failed = a.has_spectrum & ~a.kk_passed
    for i in np.flatnonzero(kk_failed):  # only the flagged records get a message
        warnings[i].append(
            f"spectrum fails Lin-KK (max residual {100 * a.kk_max_residual[i]:.1f} % > {100 * DEFAULT_KK_THRESHOLD:.0f} %)"
        )
    for i in np.flatnonzero(a.has_spectrum & ~a.fit_ok):
        fallback_r0 = {"intercept": "R0 from the spectrum's high-frequency intercept", "pulse": "R0 from the DC pulse"}
        used = fallback_r0.get(str(a.r0_source[i]), "no R0")
        warnings[i].append(f"equivalent-circuit fit not used ({'; '.join(a.fit_problems[i])}): {used}, arc resistances left out")
    estimated = np.isin(method, ("calibrated", "fallback"))
    incredible = estimated & np.isfinite(soh) & ((soh < CREDIBLE_SOH_RANGE[0]) | (soh > CREDIBLE_SOH_RANGE[1]))
    for i in np.flatnonzero(incredible):
        warnings[i].append(
            f"{method[i]} SoH {100 * soh[i]:.0f} % is outside {100 * CREDIBLE_SOH_RANGE[0]:.0f}..{100 * CREDIBLE_SOH_RANGE[1]:.0f} %: "
            "not credible, re-test the cell"
        )
    soh[incredible], low[incredible], high[incredible] = np.nan, np.nan, np.nan
    retest = not_complete | nothing | (kk_failed & ~measured) | incredible

    grading = grade_records(
        soh, a.resistance_growth, np.asarray(batch.rules_key, dtype=str), batch.rules_by_key or {},
        nominal, np.asarray(batch.nominal_voltage_v, dtype=float), retest,
    )
    _add(warnings, grading.no_rules, "no grading rules for this record: not graded")
    _add(warnings, ~np.isfinite(a.resistance_growth) & measured, "resistance not measured: grade from SoH alone")
    return Estimates(
        source_file=np.asarray(batch.source_file, dtype=str),
        record_key=np.asarray(batch.record_key, dtype=str),
        cell_id=np.asarray(batch.cell_id, dtype=str),
        measurement_id=np.asarray(batch.measurement_id, dtype=str),
        status=status,
        soh=soh,
        soh_low=low,
        soh_high=high,
        grade=grading.grade,
        residual_value=grading.residual_value,
        currency=grading.currency,
        method=method,
        warnings=warnings,
        r0_ohm=a.r0_25_ohm,
        resistance_growth=a.resistance_growth,
        fit_rel_rmse=a.fit_rel_rmse,
        kk_max_residual=a.kk_max_residual,
        temperature_c=np.asarray(batch.temperature_c, dtype=float),
        capacity_ah=np.where(a.reached_cutoff, a.discharge.capacity_ah, np.nan),
        energy_wh=np.where(a.reached_cutoff, a.discharge.energy_wh, np.nan),
        dc_resistance_ohm=a.pulse.dc_resistance_ohm,
        soc=a.soc,
        soc_source=a.soc_source,
    )
