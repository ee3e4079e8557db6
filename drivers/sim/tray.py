"""A tray of simulated cells behind one switch, and the sources that drive the connected cell.

One `Tray` object is shared by every simulated instrument of a station. Its state
advances lazily: each instrument command first calls `advance(now_s)` (under `lock`),
which integrates all cells from the last update to `now_s` of the station's scaled
clock. Resting cells relax in one exact step; the connected cell is sub-stepped under
whichever source has its output on, with that source's compliance.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.sim.cell import (
    OVER_TEMP_FAULT_HEAT_W,
    CellParameters,
    CellState,
    Chemistry,
    chemistry_by_name,
    current_for_voltage_a,
    impedance_ohm,
    step_cell,
    terminal_voltage_v,
)

MAX_SUBSTEP_S = 1.0
MAX_SUBSTEPS = 5000
READBACK_STEP_S = 1e-3


@dataclass
class SimCell:
    """One cell in a tray slot: fixed aged parameters, evolving state, and its physical faults."""

    slot: int
    params: CellParameters
    state: CellState
    reversed: bool = False
    over_temp: bool = False

    @property
    def true_soh(self) -> float:
        return self.params.soh

    @property
    def capacity_ah(self) -> float:
        return self.params.capacity_ah

    @property
    def r0_ohm(self) -> float:
        return self.params.r0_ohm

    @property
    def chemistry(self) -> Chemistry:
        return self.params.chemistry


@dataclass
class SourceControl:
    """The settings of one source instrument, as the tray needs them to drive the connected cell.

    `mode` "CURR" sources `level` amperes with compliance `voltage_limit_v`; "VOLT" sources
    `level` volts with compliance `current_limit_a`. Signs are those the instrument sees.
    """

    name: str
    mode: str = "CURR"
    level: float = 0.0
    voltage_limit_v: float = 21.0
    current_limit_a: float = 0.105
    output_on: bool = False
    open_lead_slots: frozenset[int] = frozenset()
    # called after every sub-step while this source drives the cell: (time_s, readback); may turn the output off
    observer: Callable[[float, "SourceReadback"], None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SourceReadback:
    """What a source measures at its terminals now."""

    voltage_v: float
    current_a: float
    in_compliance: bool


@dataclass
class Tray:
    """N cells, the switch position (slot 1 at start-up, None when all open) and the registered sources."""

    cells: list[SimCell]
    connected_slot: int | None = 1
    sources: list[SourceControl] = field(default_factory=list)
    last_update_s: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def slot_count(self) -> int:
        return len(self.cells)

    def connected_cell(self) -> SimCell | None:
        return None if self.connected_slot is None else self.cells[self.connected_slot - 1]

    def add_source(self, name: str) -> SourceControl:
        control = SourceControl(name=name)
        self.sources.append(control)
        return control

    def any_output_on(self) -> bool:
        return any(source.output_on for source in self.sources)

    def _active_source(self) -> SourceControl | None:
        return next((source for source in self.sources if source.output_on), None)

    def _resolve(self, cell: SimCell | None, source: SourceControl, dt_s: float) -> tuple[float, SourceReadback]:
        """Current into the cell and the source's readback, for a step of `dt_s` under `source`."""
        if not source.output_on:
            if cell is None or cell.slot in source.open_lead_slots:
                return 0.0, SourceReadback(0.0, 0.0, False)
            sign = -1.0 if cell.reversed else 1.0
            return 0.0, SourceReadback(sign * terminal_voltage_v(cell.params, cell.state, 0.0), 0.0, False)
        if cell is None or cell.slot in source.open_lead_slots:
            # nothing connected: a current source runs into its voltage limit, a voltage source delivers no current
            if source.mode == "CURR":
                return 0.0, SourceReadback(math.copysign(source.voltage_limit_v, source.level or 1.0), 0.0, True)
            return 0.0, SourceReadback(source.level, 0.0, False)
        sign = -1.0 if cell.reversed else 1.0
        compliance = False
        if source.mode == "CURR":
            i_src = source.level
            v_seen = sign * terminal_voltage_v(cell.params, cell.state, sign * i_src)
            if abs(v_seen) > source.voltage_limit_v:
                target_seen = math.copysign(source.voltage_limit_v, v_seen)
                i_limited = sign * current_for_voltage_a(cell.params, cell.state, sign * target_seen, dt_s)
                low, high = sorted((0.0, source.level))
                i_src = min(max(i_limited, low), high)
                compliance = True
        else:
            i_src = sign * current_for_voltage_a(cell.params, cell.state, sign * source.level, dt_s)
            if abs(i_src) > source.current_limit_a:
                i_src = math.copysign(source.current_limit_a, i_src)
                compliance = True
        i_cell = sign * i_src
        v_seen = sign * terminal_voltage_v(cell.params, cell.state, i_cell)
        return i_cell, SourceReadback(v_seen, i_src, compliance)

    def advance(self, now_s: float) -> None:
        """Integrate every cell from the last update to `now_s` (scaled clock seconds)."""
        with self.lock:
            dt_s = now_s - self.last_update_s
            if dt_s <= 0:
                return
            self.last_update_s = now_s
            connected = self.connected_cell()
            source = self._active_source()
            for cell in self.cells:
                if cell is connected and source is not None:
                    continue
                step_cell(cell.params, cell.state, 0.0, dt_s)
            if connected is None or source is None:
                return
            n_steps = min(MAX_SUBSTEPS, max(1, math.ceil(dt_s / MAX_SUBSTEP_S)))
            sub_s = dt_s / n_steps
            start_s = now_s - dt_s
            for k in range(n_steps):
                if not source.output_on:  # the observer ended the step (e.g. end current reached): rest the remainder
                    step_cell(connected.params, connected.state, 0.0, sub_s * (n_steps - k))
                    break
                i_cell, readback = self._resolve(connected, source, sub_s)
                heat_w = OVER_TEMP_FAULT_HEAT_W if connected.over_temp and abs(i_cell) > 0.01 else 0.0
                step_cell(connected.params, connected.state, i_cell, sub_s, extra_heat_w=heat_w)
                if source.observer is not None:
                    source.observer(start_s + (k + 1) * sub_s, readback)

    def source_readback(self, source: SourceControl) -> SourceReadback:
        """What `source` measures now (call `advance` first)."""
        with self.lock:
            if source.output_on and self._active_source() is not source:
                # two outputs on at once: only the first drives the cell; the other sees its terminals
                cell = self.connected_cell()
                voltage = 0.0 if cell is None else terminal_voltage_v(cell.params, cell.state, cell.state.current_a)
                return SourceReadback(voltage, 0.0, False)
            _, readback = self._resolve(self.connected_cell(), source, READBACK_STEP_S)
            return readback

    def terminal_voltage_v(self) -> float | None:
        """Voltage across the connected cell as an instrument sees it (negative when reversed); None if open."""
        with self.lock:
            cell = self.connected_cell()
            if cell is None:
                return None
            sign = -1.0 if cell.reversed else 1.0
            return sign * terminal_voltage_v(cell.params, cell.state, cell.state.current_a)

    def impedance_ohm(self, frequency_hz: float) -> complex | None:
        """Impedance of the connected cell at `frequency_hz` now; None if no cell is connected."""
        with self.lock:
            cell = self.connected_cell()
            if cell is None:
                return None
            z = impedance_ohm(cell.params, frequency_hz, soc=cell.state.soc, temperature_c=cell.state.temperature_c)
            return complex(z)

    def temperature_c(self) -> float | None:
        with self.lock:
            cell = self.connected_cell()
            return None if cell is None else cell.state.temperature_c


AMBIENT_LIMITS_C = (-30.0, 60.0)
SOC_LIMITS = (0.0, 1.0)
DEFAULT_SOC_RANGE = (0.30, 0.60)


def check_range(name: str, value_range: tuple[float, float], limits: tuple[float, float], unit: str = "") -> tuple[float, float]:
    """`value_range` as a (low, high) float pair inside `limits`; ValueError in one line otherwise.

    Shared by `make_tray` and the `bench sim serve` options, so both refuse the same ranges
    with the same words.
    """
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value_range!r}: give two numbers LO:HI") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} {low:g}:{high:g}: both ends must be finite numbers")
    if low > high:
        raise ValueError(f"{name} {low:g}:{high:g}: the low end is above the high end; give LO:HI with LO <= HI")
    if low < limits[0] or high > limits[1]:
        raise ValueError(f"{name} {low:g}:{high:g}: must lie within {limits[0]:g}..{limits[1]:g}{unit}")
    return low, high


def make_cell(slot: int, seed: int, chemistry: Chemistry, *,
              ambient_c_range: tuple[float, float] | None = None,
              soc_range: tuple[float, float] = DEFAULT_SOC_RANGE) -> SimCell:
    """Cell `slot` of tray `seed`: the same cell whatever the tray size (its generator is seeded by both).

    The draws keep one order whatever the options, so a cell's SoH and resistances never
    depend on the temperature or SOC it is measured at: SoH, spread, ambient near 25 C,
    start SOC (one uniform draw, scaled onto `soc_range`), thermal offset; then, only when
    `ambient_c_range` is given, the ambient uniform over that range. That ambient stands
    for a temperature chamber or a cold store: the cell has soaked in it, so its
    temperature starts at the ambient and rests there.
    """
    soc_low, soc_high = check_range("SOC range", soc_range, SOC_LIMITS)
    rng = np.random.default_rng([seed, slot])
    soh = float(rng.uniform(0.60, 1.00))
    spread = rng.lognormal(mean=0.0, sigma=0.05, size=4)
    params = CellParameters.aged(chemistry, soh, spread)
    ambient_c = 25.0 + float(rng.normal(0.0, 0.3))
    soc = float(rng.uniform(soc_low, soc_high))
    temperature_c = ambient_c + float(rng.normal(0.0, 0.2))
    if ambient_c_range is not None:
        low_c, high_c = check_range("ambient temperature range", ambient_c_range, AMBIENT_LIMITS_C, " C")
        ambient_c = float(rng.uniform(low_c, high_c))
        temperature_c = ambient_c
    state = CellState(soc=soc, v_rc1_v=0.0, v_rc2_v=0.0, temperature_c=temperature_c, ambient_c=ambient_c)
    return SimCell(slot=slot, params=params, state=state)


def make_tray(n_cells: int, seed: int, chemistry: str = "nmc", *,
              ambient_c_range: tuple[float, float] | None = None,
              soc_range: tuple[float, float] = DEFAULT_SOC_RANGE) -> Tray:
    """A reproducible tray of `n_cells` cells of `chemistry` ("nmc" or "lfp"); SoH spread over 0.60..1.00.

    By default every cell sits near 25 C at a start SOC of 0.30..0.60. `ambient_c_range`
    (within -30..60 C) spreads the cells' ambient temperatures uniformly over it and
    `soc_range` (within 0..1) their start SOC, so the estimator can be tried across both;
    each cell keeps the SoH and resistances it has on the default tray.
    """
    if n_cells < 1:
        raise ValueError(f"a tray needs at least one cell, got {n_cells}")
    chem = chemistry_by_name(chemistry)
    if ambient_c_range is not None:
        ambient_c_range = check_range("ambient temperature range", ambient_c_range, AMBIENT_LIMITS_C, " C")
    soc_range = check_range("SOC range", soc_range, SOC_LIMITS)
    return Tray(cells=[make_cell(slot, seed, chem, ambient_c_range=ambient_c_range, soc_range=soc_range)
                       for slot in range(1, n_cells + 1)])
