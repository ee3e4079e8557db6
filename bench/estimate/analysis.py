"""Everything the estimator reads off a batch before deciding SoH: fits, Lin-KK, features.

Shared by ``evaluate`` and ``calibrate`` so that a model is applied to exactly the
features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.estimate.circuits import parse_circuit
from bench.estimate.features import DischargeFeatures, PulseFeatures, discharge_features, pulse_features
from bench.estimate.fit import DEFAULT_CIRCUIT, fit_ecm
from bench.estimate.kk import lin_kk
from bench.estimate.soc import record_soc
from bench.records import RecordBatch

MIN_SPECTRUM_POINTS = 6
# Spectra per fit/Lin-KK batch: large enough to amortise numpy overhead, small enough that
# the (chunk, 2F, p) Jacobians and Lin-KK design matrices stay at tens of MB.
SPECTRUM_CHUNK = 4096
# Activation energy for normalising resistances to 25 °C. Ohmic and charge-transfer
# resistances of Li-ion cells have apparent activation energies of roughly 20-50 kJ/mol;
# one middle value is used, and the calibrated model also sees the temperature itself.
ACTIVATION_ENERGY_J_PER_MOL = 30_000.0
GAS_CONSTANT_J_PER_MOL_K = 8.314
REFERENCE_TEMPERATURE_C = 25.0
FEATURE_FREQUENCIES_HZ = (1000.0, 10.0, 0.1)
# Usual discharge end voltage per chemistry (V), used when the record's cell type gives
# none, and the tolerance for "the discharge reached the cutoff".
CUTOFF_V = {"nmc": 3.0, "nca": 3.0, "lco": 3.0, "lmo": 3.0, "lfp": 2.5, "lto": 1.5}
CUTOFF_TOLERANCE_V = 0.05


def arrhenius_factor(temperature_c: np.ndarray) -> np.ndarray:
    """Multiply a resistance measured at temperature_c by this to get its 25 °C value (NaN temperature -> 1)."""
    t_k = np.where(np.isfinite(temperature_c), temperature_c, REFERENCE_TEMPERATURE_C) + 273.15
    t_ref = REFERENCE_TEMPERATURE_C + 273.15
    return np.exp(-ACTIVATION_ENERGY_J_PER_MOL / GAS_CONSTANT_J_PER_MOL_K * (1 / t_k - 1 / t_ref))


def discharge_cutoff_v(batch: RecordBatch) -> np.ndarray:
    """Per record: the cell type's min_voltage_v from its rules, else the chemistry's usual cutoff, else NaN."""
    n = batch.n_records
    chem = np.char.lower(np.asarray(batch.chemistry, dtype=str)) if n else np.zeros(0, dtype=str)
    cutoff = np.full(n, np.nan)
    for name, value in CUTOFF_V.items():  # a handful of chemistries, not records
        cutoff[chem == name] = value
    keys = np.asarray(batch.rules_key, dtype=str)
    for key, rules in (batch.rules_by_key or {}).items():
        cell_type = rules.get("cell_type") if isinstance(rules, dict) else None
        if isinstance(cell_type, dict) and isinstance(cell_type.get("min_voltage_v"), (int, float)):
            cutoff[keys == key] = float(cell_type["min_voltage_v"])
    return cutoff


@dataclass(frozen=True)
class Analysis:
    has_spectrum: np.ndarray  # (n,) bool
    params: np.ndarray  # (n, p) fitted circuit parameters (NaN without spectrum)
    param_names: tuple[str, ...]
    fit_rel_rmse: np.ndarray
    kk_max_residual: np.ndarray
    kk_passed: np.ndarray
    z_abs_at: np.ndarray  # (n, len(FEATURE_FREQUENCIES_HZ)) |Z| of the fitted circuit
    r0_25_ohm: np.ndarray  # ohmic resistance normalised to 25 °C (from EIS, else from the DC pulse)
    r0_from_pulse: np.ndarray  # (n,) bool
    resistance_growth: np.ndarray  # r0_25_ohm / reference_r0_ohm
    discharge: DischargeFeatures
    pulse: PulseFeatures
    reached_cutoff: np.ndarray  # (n,) bool
    soc: np.ndarray  # (n,) SOC at measurement time: measured, else from OCV (bench.estimate.soc), else NaN
    soc_source: np.ndarray  # (n,) str: "measured" | "ocv" | ""

    def param(self, name: str) -> np.ndarray:
        return self.params[:, self.param_names.index(name)]


def analyse(batch: RecordBatch, circuit: str = DEFAULT_CIRCUIT) -> Analysis:
    n = batch.n_records
    parsed = parse_circuit(circuit)
    width = int(np.size(batch.frequency_hz) // n) if n else 0
    f = np.asarray(batch.frequency_hz, dtype=float).reshape(n, width)
    z = (np.asarray(batch.z_real_ohm, dtype=float) + 1j * np.asarray(batch.z_imag_ohm, dtype=float)).reshape(n, width)
    valid = np.isfinite(f) & (f > 0) & np.isfinite(z.real) & np.isfinite(z.imag)
    has_spectrum = valid.sum(axis=1) >= MIN_SPECTRUM_POINTS
    rows = np.flatnonzero(has_spectrum)
    params = np.full((n, parsed.n_params), np.nan)
    rel_rmse = np.full(n, np.nan)
    kk_max = np.full(n, np.nan)
    kk_pass = np.zeros(n, dtype=bool)
    z_abs_at = np.full((n, len(FEATURE_FREQUENCIES_HZ)), np.nan)
    for start in range(0, rows.size, SPECTRUM_CHUNK):  # chunks bound the Jacobian's memory; each is one batch
        part = rows[start : start + SPECTRUM_CHUNK]
        fit = fit_ecm(f[part], z[part], circuit)
        params[part] = fit.params
        rel_rmse[part] = fit.rel_rmse
        kk = lin_kk(f[part], z[part])
        kk_max[part] = kk.max_residual
        kk_pass[part] = kk.passed
        ok = np.all(np.isfinite(fit.params), axis=1)
        z_at = parsed.impedance(np.where(ok[:, None], fit.params, 1.0), np.array(FEATURE_FREQUENCIES_HZ))
        z_abs_at[part] = np.where(ok[:, None], np.abs(z_at), np.nan)
    factor = arrhenius_factor(np.asarray(batch.temperature_c, dtype=float))
    pulse = pulse_features(batch.pulse)
    discharge = discharge_features(batch.discharge)
    r0 = params[:, parsed.index("r0_ohm")]
    from_pulse = ~np.isfinite(r0) & np.isfinite(pulse.dc_resistance_ohm)
    r0 = np.where(from_pulse, pulse.dc_resistance_ohm, r0)
    r0_25 = r0 * factor
    ref = np.asarray(batch.reference_r0_ohm, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.where(ref > 0, r0_25 / ref, np.nan)
    cutoff = discharge_cutoff_v(batch)
    reached = np.isfinite(discharge.capacity_ah) & (discharge.capacity_ah > 0)
    reached &= np.where(np.isfinite(cutoff), discharge.end_voltage_v <= cutoff + CUTOFF_TOLERANCE_V, True)
    soc = record_soc(batch)
    return Analysis(
        has_spectrum, params, parsed.names, rel_rmse, kk_max, kk_pass, z_abs_at * factor[:, None], r0_25, from_pulse,
        growth, discharge, pulse, reached, soc.soc, soc.source,
    )
