"""Equivalent-circuit model of one Li-ion cell: OCV, impedance spectrum, time-domain response, heat.

The frequency domain is L + R0 + two R||CPE arcs (SEI, charge transfer) + a Warburg
element; the time domain is R0 + two RC polarisation branches + a lumped thermal mass.
Every function takes numpy arrays so that spectra and whole trays are computed at once.
Resistances follow Arrhenius in temperature; ageing (1 - soh) drives capacity fade and
resistance growth. The equations and parameter values are in docs/simulator.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import PchipInterpolator

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
REFERENCE_TEMPERATURE_C = 25.0
CELL_HEAT_CAPACITY_J_PER_K = 45.0   # an 18650 weighs ~45 g at ~1 J/(g K)
CELL_THERMAL_RESISTANCE_K_PER_W = 15.0  # to still air in a tray slot
OVER_TEMP_FAULT_HEAT_W = 6.0        # internal short of a faulty cell, while current flows


@dataclass(frozen=True)
class Chemistry:
    """Beginning-of-life parameters of one cell type (values at 25 C, 50 % SOC)."""

    name: str
    cell_type: str
    nominal_capacity_ah: float
    nominal_voltage_v: float
    min_voltage_v: float
    max_voltage_v: float
    r0_bol_ohm: float
    r_sei_bol_ohm: float
    r_ct_bol_ohm: float
    tau_sei_s: float
    tau_ct_s: float
    alpha_sei: float
    alpha_ct: float
    warburg_bol_ohm_s_half: float
    inductance_h: float
    ocv_soc: tuple[float, ...]
    ocv_v: tuple[float, ...]
    r_diffusion_bol_ohm: float
    tau_diffusion_s: float
    # how much each resistance grows per unit of ageing (1 - soh)
    r0_growth: float = 2.5
    r_sei_growth: float = 4.0
    r_ct_growth: float = 3.0
    activation_r0_j_per_mol: float = 15_000.0
    activation_sei_j_per_mol: float = 40_000.0
    activation_ct_j_per_mol: float = 50_000.0
    ocv_table: PchipInterpolator = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # monotone cubic through the table, built once per chemistry
        object.__setattr__(self, "ocv_table", PchipInterpolator(np.array(self.ocv_soc), np.array(self.ocv_v)))


NMC = Chemistry(
    name="nmc",
    cell_type="nmc-18650-2.5ah",
    nominal_capacity_ah=2.5,
    nominal_voltage_v=3.6,
    min_voltage_v=2.5,
    max_voltage_v=4.2,
    r0_bol_ohm=0.030,
    r_sei_bol_ohm=0.008,
    r_ct_bol_ohm=0.015,
    tau_sei_s=5.0e-4,
    tau_ct_s=0.03,
    alpha_sei=0.90,
    alpha_ct=0.85,
    warburg_bol_ohm_s_half=0.004,
    inductance_h=2.0e-7,
    ocv_soc=(0.0, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.0),
    ocv_v=(2.50, 3.10, 3.30, 3.45, 3.56, 3.62, 3.67, 3.73, 3.81, 3.90, 3.98, 4.07, 4.12, 4.20),
    r_diffusion_bol_ohm=0.015,
    tau_diffusion_s=200.0,
)

LFP = Chemistry(
    name="lfp",
    cell_type="lfp-18650-1.5ah",
    nominal_capacity_ah=1.5,
    nominal_voltage_v=3.2,
    min_voltage_v=2.5,
    max_voltage_v=3.65,
    r0_bol_ohm=0.035,
    r_sei_bol_ohm=0.010,
    r_ct_bol_ohm=0.020,
    tau_sei_s=4.0e-4,
    tau_ct_s=0.05,
    alpha_sei=0.90,
    alpha_ct=0.82,
    warburg_bol_ohm_s_half=0.006,
    inductance_h=2.5e-7,
    # LFP: a long flat plateau between ~10 % and ~90 % SOC
    ocv_soc=(0.0, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.0),
    ocv_v=(2.50, 2.90, 3.10, 3.20, 3.25, 3.27, 3.285, 3.29, 3.30, 3.31, 3.32, 3.33, 3.35, 3.65),
    r_diffusion_bol_ohm=0.020,
    tau_diffusion_s=300.0,
)

CHEMISTRIES: dict[str, Chemistry] = {"nmc": NMC, "lfp": LFP}


def chemistry_by_name(name: str) -> Chemistry:
    """The chemistry called `name` ("nmc" or "lfp"); ValueError names the choices otherwise."""
    try:
        return CHEMISTRIES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown chemistry {name!r}: choose one of {', '.join(CHEMISTRIES)}") from None


def ocv_v(chemistry: Chemistry, soc: ArrayLike) -> np.ndarray:
    """Open-circuit voltage at `soc` (0..1). Monotone (PCHIP through the table); steep outside 0..1.

    Past the ends the voltage keeps falling (over-discharge) or rising (overcharge)
    steeply, so a source that ignores its limits still meets a voltage wall.
    """
    soc_arr = np.asarray(soc, dtype=float)
    table = chemistry.ocv_table
    inside = table(np.clip(soc_arr, 0.0, 1.0))
    below = np.minimum(soc_arr, 0.0) * 20.0
    above = np.maximum(soc_arr - 1.0, 0.0) * 10.0
    return inside + below + above


def arrhenius_factor(temperature_c: ArrayLike, activation_j_per_mol: float) -> np.ndarray:
    """Multiplier of a resistance at `temperature_c` relative to 25 C (> 1 when colder)."""
    t_k = np.asarray(temperature_c, dtype=float) + 273.15
    t_ref_k = REFERENCE_TEMPERATURE_C + 273.15
    return np.exp(activation_j_per_mol / GAS_CONSTANT_J_PER_MOL_K * (1.0 / t_k - 1.0 / t_ref_k))


@dataclass(frozen=True)
class CellParameters:
    """The aged parameters of one cell at 25 C (spread included); fixed for the cell's life in the tray."""

    chemistry: Chemistry
    soh: float
    capacity_ah: float
    r0_ohm: float
    r_sei_ohm: float
    r_ct_ohm: float
    q_sei: float
    q_ct: float
    warburg_ohm_s_half: float
    r_diffusion_ohm: float
    inductance_h: float

    @classmethod
    def aged(cls, chemistry: Chemistry, soh: float, spread: np.ndarray) -> "CellParameters":
        """Parameters of a cell at state of health `soh`; `spread` holds 4 multiplicative factors near 1.

        One ageing state drives both fades: capacity = nominal * soh; each resistance
        = BOL * (1 + growth * (1 - soh)) * its own spread. CPE magnitudes are fixed by the
        BOL time constants, so the arcs also slide to lower frequency as they grow.
        """
        ageing = 1.0 - soh
        r_sei_bol = chemistry.r_sei_bol_ohm
        r_ct_bol = chemistry.r_ct_bol_ohm
        return cls(
            chemistry=chemistry,
            soh=soh,
            capacity_ah=chemistry.nominal_capacity_ah * soh,
            r0_ohm=chemistry.r0_bol_ohm * (1.0 + chemistry.r0_growth * ageing) * float(spread[0]),
            r_sei_ohm=r_sei_bol * (1.0 + chemistry.r_sei_growth * ageing) * float(spread[1]),
            r_ct_ohm=r_ct_bol * (1.0 + chemistry.r_ct_growth * ageing) * float(spread[2]),
            q_sei=chemistry.tau_sei_s**chemistry.alpha_sei / r_sei_bol,
            q_ct=chemistry.tau_ct_s**chemistry.alpha_ct / r_ct_bol,
            warburg_ohm_s_half=chemistry.warburg_bol_ohm_s_half * (1.0 + 2.0 * ageing) * float(spread[3]),
            r_diffusion_ohm=chemistry.r_diffusion_bol_ohm * (1.0 + 2.0 * ageing) * float(spread[3]),
            inductance_h=chemistry.inductance_h,
        )


def soc_factor_ct(soc: ArrayLike) -> np.ndarray:
    """Charge-transfer resistance rises towards empty (and a little towards full)."""
    s = np.clip(np.asarray(soc, dtype=float), 0.0, 1.0)
    return 1.0 + 0.8 * (1.0 - s) ** 3 + 0.2 * s**4


def impedance_ohm(params: CellParameters, frequency_hz: ArrayLike, *, soc: float, temperature_c: float) -> np.ndarray:
    """Complex impedance Z(f) of the cell; Im(Z) < 0 where capacitive.

    Z = jwL + R0 + R_sei/(1 + R_sei Q_sei (jw)^a_sei) + R_ct/(1 + R_ct Q_ct (jw)^a_ct) + sigma (1 - j)/sqrt(w)
    """
    chem = params.chemistry
    w = 2.0 * math.pi * np.asarray(frequency_hz, dtype=float)
    jw = 1j * w
    r0 = params.r0_ohm * arrhenius_factor(temperature_c, chem.activation_r0_j_per_mol)
    r_sei = params.r_sei_ohm * arrhenius_factor(temperature_c, chem.activation_sei_j_per_mol)
    r_ct = params.r_ct_ohm * arrhenius_factor(temperature_c, chem.activation_ct_j_per_mol) * soc_factor_ct(soc)
    sigma = params.warburg_ohm_s_half * arrhenius_factor(temperature_c, chem.activation_r0_j_per_mol)
    z_sei = r_sei / (1.0 + r_sei * params.q_sei * jw**chem.alpha_sei)
    z_ct = r_ct / (1.0 + r_ct * params.q_ct * jw**chem.alpha_ct)
    z_w = sigma * (1.0 - 1j) / np.sqrt(w)
    return jw * params.inductance_h + r0 + z_sei + z_ct + z_w


@dataclass(frozen=True)
class DcResistances:
    """Time-domain resistances at the present temperature and SOC (ohm, scalars or arrays), and the RC time constants (s)."""

    r0_ohm: np.ndarray
    r1_ohm: np.ndarray
    tau1_s: float
    r2_ohm: np.ndarray
    tau2_s: float


def dc_resistances(params: CellParameters, *, soc: ArrayLike, temperature_c: ArrayLike) -> DcResistances:
    """Series resistance and two polarisation branches: fast (SEI + charge transfer) and slow (diffusion).

    Elementwise in `soc` and `temperature_c`, so a whole tray's states can be stepped at once.
    """
    chem = params.chemistry
    r0 = params.r0_ohm * arrhenius_factor(temperature_c, chem.activation_r0_j_per_mol)
    r1 = params.r_sei_ohm * arrhenius_factor(temperature_c, chem.activation_sei_j_per_mol) + params.r_ct_ohm * (
        arrhenius_factor(temperature_c, chem.activation_ct_j_per_mol) * soc_factor_ct(soc)
    )
    r2 = params.r_diffusion_ohm * arrhenius_factor(temperature_c, chem.activation_r0_j_per_mol)
    return DcResistances(r0_ohm=r0, r1_ohm=r1, tau1_s=2.0, r2_ohm=r2, tau2_s=chem.tau_diffusion_s)


@dataclass
class CellState:
    """What changes with time: charge, polarisation voltages, temperature, and the last current.

    Fields are floats for one cell; the functions below are elementwise, so arrays of
    states (one entry per cell or per scenario) step the same way.
    """

    soc: float
    v_rc1_v: float
    v_rc2_v: float
    temperature_c: float
    ambient_c: float
    current_a: float = 0.0


def terminal_voltage_v(params: CellParameters, state: CellState, current_a: ArrayLike) -> float:
    """Voltage at the cell's terminals while `current_a` flows (positive charges)."""
    dc = dc_resistances(params, soc=state.soc, temperature_c=state.temperature_c)
    return ocv_v(params.chemistry, state.soc) + state.v_rc1_v + state.v_rc2_v + np.asarray(current_a) * dc.r0_ohm


def current_for_voltage_a(params: CellParameters, state: CellState, voltage_v: ArrayLike, dt_s: float) -> float:
    """Current that holds the terminals at `voltage_v` at the end of a step of `dt_s` (implicit, so CV is stable)."""
    dc = dc_resistances(params, soc=state.soc, temperature_c=state.temperature_c)
    e1 = math.exp(-dt_s / dc.tau1_s)
    e2 = math.exp(-dt_s / dc.tau2_s)
    numerator = np.asarray(voltage_v) - ocv_v(params.chemistry, state.soc) - state.v_rc1_v * e1 - state.v_rc2_v * e2
    return numerator / (dc.r0_ohm + dc.r1_ohm * (1.0 - e1) + dc.r2_ohm * (1.0 - e2))


def step_cell(params: CellParameters, state: CellState, current_a: ArrayLike, dt_s: float, *,
              extra_heat_w: ArrayLike = 0.0) -> None:
    """Advance `state` in place by `dt_s` under a constant `current_a` (exact for the linear parts)."""
    dc = dc_resistances(params, soc=state.soc, temperature_c=state.temperature_c)
    current = np.asarray(current_a, dtype=float)
    e1 = math.exp(-dt_s / dc.tau1_s)
    e2 = math.exp(-dt_s / dc.tau2_s)
    state.v_rc1_v = state.v_rc1_v * e1 + current * dc.r1_ohm * (1.0 - e1)
    state.v_rc2_v = state.v_rc2_v * e2 + current * dc.r2_ohm * (1.0 - e2)
    state.soc = state.soc + current * dt_s / (3600.0 * params.capacity_ah)
    heat_w = current**2 * (dc.r0_ohm + dc.r1_ohm + dc.r2_ohm) + extra_heat_w
    tau_th = CELL_HEAT_CAPACITY_J_PER_K * CELL_THERMAL_RESISTANCE_K_PER_W
    steady_c = state.ambient_c + heat_w * CELL_THERMAL_RESISTANCE_K_PER_W
    state.temperature_c = steady_c + (state.temperature_c - steady_c) * math.exp(-dt_s / tau_th)
    state.current_a = current_a
