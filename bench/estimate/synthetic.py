"""Synthetic record batches with known SoH, for tests, benchmarks and documentation examples.

An ageing state drives capacity fade and resistance growth with cell-to-cell spread; the
spectra come from the default circuit with noise, the pulses from R0 + an RC branch.
Not a simulator of instruments (that is drivers/sim): only arrays in RecordBatch form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.estimate.analysis import (
    ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL,
    ACTIVATION_ENERGY_OHMIC_J_PER_MOL,
    arrhenius_factor,
)
from bench.estimate.circuits import parse_circuit
from bench.profiles import default_grading
from bench.records import RaggedSeries, RecordBatch

# The rules a profile without a [grading] table gets, so synthetic records grade as real ones would.
GRADING_RULES = {"grading": default_grading()}
NOMINAL_CAPACITY_AH = 50.0
NOMINAL_VOLTAGE_V = 3.65
REFERENCE_R0_OHM = 0.0010


@dataclass(frozen=True)
class SyntheticTruth:
    soh: np.ndarray
    params: np.ndarray  # circuit parameters at measurement temperature


def synthetic_batch(
    n_records: int,
    seed: int = 0,
    *,
    records_per_cell: int = 1,
    n_freq: int = 25,
    noise: float = 0.002,
    with_discharge: bool = False,
    with_pulse: bool = True,
    with_reference: bool = False,
    temperature_c_range: tuple[float, float] = (15.0, 35.0),
) -> tuple[RecordBatch, SyntheticTruth]:
    """n_records synthetic records with known SoH, measured at temperatures spread over temperature_c_range.

    Temperature acts as Arrhenius factors would on a real cell: R0 and the Warburg
    coefficient with the ohmic activation energy, the arcs with the charge-transfer one,
    and since an arc's capacitance hardly depends on temperature, its time constant
    grows with its resistance (a cold cell's arcs slide toward low frequency).
    """
    rng = np.random.default_rng(seed)
    n = n_records
    n_cells = max(1, -(-n // records_per_cell))
    cell_of = np.arange(n) // records_per_cell
    cell_soh = rng.uniform(0.62, 1.0, n_cells)
    cell_spread = rng.normal(0.0, 0.04, n_cells)
    soh = np.clip(cell_soh[cell_of] + rng.normal(0, 0.004, n), 0.5, 1.02)
    ageing = (1 - soh) + cell_spread[cell_of] * 0.5
    temperature_c = rng.uniform(*temperature_c_range, n)
    soc = rng.uniform(0.3, 0.7, n)
    ohmic = 1 / arrhenius_factor(temperature_c, ACTIVATION_ENERGY_OHMIC_J_PER_MOL)  # 25 °C value -> value at temperature
    ct = 1 / arrhenius_factor(temperature_c, ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL)
    r0_25 = REFERENCE_R0_OHM * (1 + 1.8 * ageing) * np.exp(rng.normal(0, 0.02, n))
    r1_25 = 0.4 * REFERENCE_R0_OHM * (1 + 2.5 * ageing) * np.exp(rng.normal(0, 0.03, n))
    r2_25 = 0.8 * REFERENCE_R0_OHM * (1 + 3.0 * ageing) * (1 + 0.3 * (soc - 0.5))
    q1 = (1 / (2 * np.pi * 300.0)) ** 0.9 / r1_25  # arc peaks at 300 Hz and 3 Hz at 25 °C
    q2 = (1 / (2 * np.pi * 3.0)) ** 0.8 / r2_25
    r0, r1, r2 = r0_25 * ohmic, r1_25 * ct, r2_25 * ct
    circuit = parse_circuit("L-R0-RQ-RQ-W")
    params = np.column_stack([
        np.full(n, 2e-8), r0, r1, q1, np.full(n, 0.9), r2, q2, np.full(n, 0.8),
        0.3 * REFERENCE_R0_OHM * (1 + ageing) * ohmic,
    ])
    frequency_hz = np.logspace(np.log10(1050.0), -1, n_freq)
    z = circuit.impedance(params, frequency_hz)
    z = z + noise * np.abs(z) * (rng.normal(size=z.shape) + 1j * rng.normal(size=z.shape))

    def ragged(parts_t, parts_v, parts_i, present):
        return RaggedSeries.from_lists(
            [p if ok else np.zeros(0) for p, ok in zip(parts_t, present)],
            [p if ok else np.zeros(0) for p, ok in zip(parts_v, present)],
            [p if ok else np.zeros(0) for p, ok in zip(parts_i, present)],
        )

    if with_pulse:
        t = np.arange(0.0, 30.0, 0.5)
        i_pulse = -NOMINAL_CAPACITY_AH  # 1C discharge pulse from 10 s to 20 s
        on = (t >= 10) & (t < 20)
        current = np.where(on, i_pulse, 0.0)
        rc_tau_s = 2.0
        v_rows = 3.7 + current[None, :] * r0[:, None] + np.where(on, i_pulse, 0.0)[None, :] * r1[:, None] * (
            1 - np.exp(-np.clip(t - 10, 0, None) / rc_tau_s)
        )[None, :]
        pulse = RaggedSeries(
            np.arange(n + 1, dtype=np.int64) * len(t), np.tile(t, n), v_rows.ravel(), np.tile(current, n)
        )
    else:
        pulse = RaggedSeries.empty(n)
    if with_discharge:
        current = -NOMINAL_CAPACITY_AH / 2
        duration = soh * NOMINAL_CAPACITY_AH / -current * 3600
        ts = [np.linspace(0, d, 200) for d in duration]
        vs = [4.1 - 1.1 * (tt / tt[-1]) ** 3 for tt in ts]
        discharge = ragged(ts, vs, [np.full(200, current) for _ in ts], [True] * n)
    else:
        discharge = RaggedSeries.empty(n)
    cells = np.array([f"SYN-{c:05d}" for c in cell_of])
    batch = RecordBatch(
        source_file=np.full(n, "synthetic.h5"),
        record_key=np.array([f"r{i:06d}" for i in range(n)]),
        cell_id=cells,
        measurement_id=np.array([f"m{i:06d}" for i in range(n)]),
        status=np.full(n, "complete", dtype=object),
        status_reason=np.full(n, "", dtype=object),
        profile_name=np.full(n, "quick-grade"),
        rules_key=np.full(n, "quick-grade"),
        cell_type=np.full(n, "synthetic-nmc-50ah"),
        chemistry=np.full(n, "nmc"),
        nominal_capacity_ah=np.full(n, NOMINAL_CAPACITY_AH),
        nominal_voltage_v=np.full(n, NOMINAL_VOLTAGE_V),
        reference_r0_ohm=np.full(n, REFERENCE_R0_OHM),
        frequency_hz=np.tile(frequency_hz, (n, 1)),
        z_real_ohm=z.real,
        z_imag_ohm=z.imag,
        temperature_c=temperature_c,
        soc=soc,
        ocv_v=np.full(n, 3.7),
        reference_capacity_ah=soh * NOMINAL_CAPACITY_AH if with_reference else np.full(n, np.nan),
        discharge=discharge,
        pulse=pulse,
        rules_by_key={"quick-grade": GRADING_RULES},
    )
    return batch, SyntheticTruth(soh, params)
