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
from bench.estimate.plausibility import TAU_WINDOW_DECADES, check_fit
from bench.estimate.spectra import as_block
from bench.estimate.spectrum_features import abs_z_at, high_frequency_intercept_ohm
from bench.estimate.soc import record_soc
from bench.records import RecordBatch

MIN_SPECTRUM_POINTS = 6
# Spectra per fit/Lin-KK batch: large enough to amortise numpy overhead, small enough that
# the (chunk, 2F, p) Jacobians and Lin-KK design matrices stay at tens of MB.
SPECTRUM_CHUNK = 4096
# Activation energies for referring resistances to 25 °C, one per physical part, because the
# parts do not share one (a single middle value, 30 kJ/mol, over-corrected R0 of cold cells
# by 1.6x and left the fallback 15 points off below 5 °C):
# - ohmic: dominated by the electrolyte's ionic conductivity. The conductivity fit of
#   Valøen and Reimers (J. Electrochem. Soc. 152 (2005) A882) for 1 M LiPF6 in PC/EC/DMC
#   gives an apparent activation energy of 12.5..14.6 kJ/mol over -10..45 °C (evaluated
#   from their kappa(c, T)); the ionic paths in the porous electrodes and separator add a
#   little, and cell-level values of 15-20 kJ/mol are usual. 16 kJ/mol is used.
# - charge transfer (and the SEI arc): Li+ desolvation and transfer at the interface,
#   about 50 kJ/mol in EC-based electrolytes (Yamada et al., J. Phys. Chem. C 113 (2009)
#   14528) and 50-70 kJ/mol for the charge-transfer resistance of whole cells (Jow et al.,
#   J. Electrochem. Soc. 165 (2018) A361). 55 kJ/mol is used.
# Both are literature values, not fitted to any data set here; the calibrated model also
# sees the temperature itself, so what a cell type deviates from them is learnt there.
ACTIVATION_ENERGY_OHMIC_J_PER_MOL = 16_000.0
ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL = 55_000.0
GAS_CONSTANT_J_PER_MOL_K = 8.314
REFERENCE_TEMPERATURE_C = 25.0
FEATURE_FREQUENCIES_HZ = (1000.0, 10.0, 0.1)
# Usual discharge end voltage per chemistry (V), used when the record's cell type gives
# none, and the tolerance for "the discharge reached the cutoff".
CUTOFF_V = {"nmc": 3.0, "nca": 3.0, "lco": 3.0, "lmo": 3.0, "lfp": 2.5, "lto": 1.5}
CUTOFF_TOLERANCE_V = 0.05


def arrhenius_factor(temperature_c: np.ndarray, activation_j_per_mol: float) -> np.ndarray:
    """Multiply a resistance measured at temperature_c by this to get its 25 °C value (NaN temperature -> 1).

    activation_j_per_mol: ACTIVATION_ENERGY_OHMIC_J_PER_MOL for R0 (and |Z| at high
    frequency), ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL for the arcs.
    """
    temperature_c = np.asarray(temperature_c, dtype=float)
    t_k = np.where(np.isfinite(temperature_c), temperature_c, REFERENCE_TEMPERATURE_C) + 273.15
    t_ref = REFERENCE_TEMPERATURE_C + 273.15
    return np.exp(-activation_j_per_mol / GAS_CONSTANT_J_PER_MOL_K * (1 / t_k - 1 / t_ref))


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


# A fit whose relative misfit exceeds this does not describe its spectrum: its parameters are not used.
POOR_FIT_REL_RMSE = 0.05
# Sane ranges relative to the cell type's reference_r0_ohm, after referring to 25 °C: an
# ohmic resistance below a fifth or above twenty times the new cell's, or an arc larger
# than fifty times it, is a fit artefact (or a cell that is not the stated type).
R0_RATIO_RANGE = (0.2, 20.0)
ARC_RATIO_MAX = 50.0
# |Z| at a fixed frequency is referred to 25 °C with the ohmic activation energy at and
# above this frequency (the arcs have closed there) and with the charge-transfer one below.
OHMIC_ABOVE_HZ = 100.0


@dataclass(frozen=True)
class Analysis:
    has_spectrum: np.ndarray  # (n,) bool
    params: np.ndarray  # (n, p) fitted circuit parameters (NaN without spectrum)
    param_names: tuple[str, ...]
    fit_rel_rmse: np.ndarray
    fit_ok: np.ndarray  # (n,) bool: a fit that is plausible and describes its spectrum; its parameters are used
    fit_problems: list[list[str]]  # per record, why the fit is not used (empty where fit_ok or no spectrum)
    kk_max_residual: np.ndarray
    kk_passed: np.ndarray
    z_abs_at: np.ndarray  # (n, len(FEATURE_FREQUENCIES_HZ)) measured |Z| at those frequencies, referred to 25 °C
    r0_25_ohm: np.ndarray  # ohmic resistance at 25 °C: fit, else the spectrum's intercept, else the DC pulse
    r0_source: np.ndarray  # (n,) str: "fit" | "intercept" | "pulse" | ""
    r0_from_pulse: np.ndarray  # (n,) bool
    r_arc_25_ohm: np.ndarray  # (n, 2) fast and slow arc resistances at 25 °C (NaN unless fit_ok)
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
    intercept = np.full(n, np.nan)
    tau_out = np.zeros(n, dtype=bool)
    collapsed = np.zeros(n, dtype=bool)
    on_bound = np.zeros(n, dtype=bool)
    for start in range(0, rows.size, SPECTRUM_CHUNK):  # chunks bound the Jacobian's memory; each is one batch
        part = rows[start : start + SPECTRUM_CHUNK]
        block = as_block(f[part], z[part])
        fit = fit_ecm(f[part], z[part], circuit)
        params[part] = fit.params
        rel_rmse[part] = fit.rel_rmse
        kk = lin_kk(f[part], z[part])
        kk_max[part] = kk.max_residual
        kk_pass[part] = kk.passed
        z_abs_at[part] = abs_z_at(block, np.array(FEATURE_FREQUENCIES_HZ))
        intercept[part] = high_frequency_intercept_ohm(block)
        f_lo = np.min(np.where(block.valid, block.frequency_hz, np.inf), axis=1)
        f_hi = np.max(np.where(block.valid, block.frequency_hz, -np.inf), axis=1)
        scale = np.sum(np.abs(block.z) * block.valid, axis=1) / np.maximum(block.n_valid, 1)
        check = check_fit(parsed, fit.params, f_lo, f_hi, scale)
        tau_out[part], collapsed[part], on_bound[part] = check.tau_outside_window, check.collapsed, check.alpha_on_bound
    temperature_c = np.asarray(batch.temperature_c, dtype=float)
    ohmic = arrhenius_factor(temperature_c, ACTIVATION_ENERGY_OHMIC_J_PER_MOL)
    charge_transfer = arrhenius_factor(temperature_c, ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL)
    ref = np.asarray(batch.reference_r0_ohm, dtype=float)
    arcs = [k for k in ("r1_ohm", "r2_ohm")]
    r_arc = np.column_stack([params[:, parsed.index(k)] if k in parsed.names else np.full(n, np.nan) for k in arcs])
    r_arc_25 = r_arc * charge_transfer[:, None]
    r0_fit_25 = params[:, parsed.index("r0_ohm")] * ohmic
    with np.errstate(invalid="ignore", divide="ignore"):
        r0_ratio = r0_fit_25 / np.where(ref > 0, ref, np.nan)
        arc_ratio = np.nansum(r_arc_25, axis=1) / np.where(ref > 0, ref, np.nan)
    out_of_range = (r0_ratio < R0_RATIO_RANGE[0]) | (r0_ratio > R0_RATIO_RANGE[1]) | (arc_ratio > ARC_RATIO_MAX)
    fitted = has_spectrum & np.all(np.isfinite(params), axis=1)
    poor = fitted & (rel_rmse > POOR_FIT_REL_RMSE)
    fit_ok = fitted & ~poor & ~tau_out & ~collapsed & ~on_bound & ~out_of_range
    problems: list[list[str]] = [[] for _ in range(n)]
    for mask, text in (
        (has_spectrum & ~fitted, "the fit did not converge to finite parameters"),
        (poor, f"rel. misfit above {100 * POOR_FIT_REL_RMSE:.0f} %"),
        (fitted & tau_out, f"an arc's time constant lies more than {TAU_WINDOW_DECADES:g} decade outside the measured frequencies"),
        (fitted & collapsed, "an arc resistance collapsed to zero"),
        (fitted & on_bound, "a CPE exponent sits on its lower bound"),
        (fitted & out_of_range, "a resistance is outside the sane range for the cell type's reference R0"),
    ):
        for i in np.flatnonzero(mask):  # only flagged records get a message
            problems[i].append(text)

    pulse = pulse_features(batch.pulse)
    discharge = discharge_features(batch.discharge)
    r0 = np.where(fit_ok, params[:, parsed.index("r0_ohm")], np.where(has_spectrum, intercept, np.nan))
    source = np.where(fit_ok, "fit", np.where(np.isfinite(r0), "intercept", ""))
    from_pulse = ~np.isfinite(r0) & np.isfinite(pulse.dc_resistance_ohm)
    r0 = np.where(from_pulse, pulse.dc_resistance_ohm, r0)
    source = np.where(from_pulse, "pulse", source)
    r0_25 = r0 * ohmic
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.where(ref > 0, r0_25 / ref, np.nan)
    z_factor = np.where(
        np.array(FEATURE_FREQUENCIES_HZ)[None, :] >= OHMIC_ABOVE_HZ, ohmic[:, None], charge_transfer[:, None]
    )
    cutoff = discharge_cutoff_v(batch)
    reached = np.isfinite(discharge.capacity_ah) & (discharge.capacity_ah > 0)
    reached &= np.where(np.isfinite(cutoff), discharge.end_voltage_v <= cutoff + CUTOFF_TOLERANCE_V, True)
    soc = record_soc(batch)
    return Analysis(
        has_spectrum, params, parsed.names, rel_rmse, fit_ok, problems, kk_max, kk_pass, z_abs_at * z_factor, r0_25,
        source, from_pulse, np.where(fit_ok[:, None], r_arc_25, np.nan), growth, discharge, pulse, reached,
        soc.soc, soc.source,
    )
