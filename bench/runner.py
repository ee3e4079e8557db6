"""The procedure runner: a profile's steps on one connected cell, through the capability protocols.

What it promises (docs/reliability.md lists the tests that hold it to this):

- every reading is checked against the profile's effective safety limits; a breach
  stops the step, turns the output off and is recorded with the reading that broke it;
- every step that turns a source on turns it off again, on success, error or stop;
- a stop request (SIGINT/SIGTERM through `StopRequest`) is honoured at the next reading
  boundary, never in the middle of an instrument exchange;
- time series go to the store as they are read, in small chunks, never held whole.

The runner knows instruments only through `drivers.protocols` and the file only through
the record writer's methods; it waits only through the station's scaled clock, so the
same code runs a three-hour discharge at speed 1 on a real bench and in seconds on the
simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from bench.interrupts import StopRequest
from drivers.clock import ScaledClock
from drivers.protocols import ImpedanceMeter, SourceMeter, Thermometer

SERIES_COLUMNS = ("time_s", "voltage_v", "current_a", "temperature_c")
READINGS_PER_APPEND = 32  # small enough that a kill loses little, large enough to keep appends cheap
COMPLIANCE_MARGIN_V = 0.05  # source compliance sits this far beyond the cell's own voltage window
NEAR_END_V = 0.15  # within this of a voltage end condition, sample faster
NEAR_END_SPEEDUP = 10.0


class SafetyBreach(Exception):
    """A reading left the profile's safety limits; the output is already off when this propagates."""


class RecordSink(Protocol):
    """What the runner needs of a record writer (bench.store's RecordWriter provides it)."""

    def write_scalars(self, step: str, *, kind: str, values: dict[str, float]) -> None: ...

    def write_spectrum(self, step: str, *, kind: str, **arrays: Any) -> None: ...

    def open_series(self, step: str, *, kind: str, columns: tuple[str, ...], attrs: dict | None = None) -> Any: ...

    def set_attrs(self, **attrs: Any) -> None: ...


class StepProgress(Protocol):
    def step_started(self, step_name: str, kind: str, expected_s: float) -> None: ...

    def step_advanced(self, elapsed_s: float) -> None: ...

    def step_finished(self, step_name: str) -> None: ...


@dataclass
class CellContext:
    """Everything one cell's run needs; built by `bench.measure` for each cell."""

    impedance_meter: ImpedanceMeter | None
    source_meter: SourceMeter | None
    thermometer: Thermometer | None
    clock: ScaledClock
    limits: Any  # bench.profiles.SafetyLimits
    record: RecordSink
    stop: StopRequest
    progress: StepProgress
    cell_type: Any  # bench.profiles.CellType
    notes: dict[str, Any] = field(default_factory=dict)

    def wait_s(self, duration_s: float) -> None:
        """Wait `duration_s` of scaled time, waking at once on a stop request."""
        self.stop.wait_real_s(self.clock.real_s(duration_s))

    def temperature_c(self) -> float:
        return self.thermometer.measure_temperature_c() if self.thermometer is not None else math.nan

    def require_source(self) -> SourceMeter:
        if self.source_meter is None:
            raise SafetyBreach("this step needs a source meter and the station has none")
        return self.source_meter

    def require_impedance_meter(self) -> ImpedanceMeter:
        if self.impedance_meter is None:
            raise SafetyBreach("this step needs an impedance meter and the station has none")
        return self.impedance_meter


def check_reading(limits: Any, *, voltage_v: float, current_a: float, temperature_c: float) -> None:
    """Raise SafetyBreach naming the quantity, its value and the limit it broke."""
    if voltage_v > limits.max_voltage_v + COMPLIANCE_MARGIN_V:
        raise SafetyBreach(f"voltage {voltage_v:.3f} V above the limit {limits.max_voltage_v:.3f} V")
    if voltage_v < limits.min_voltage_v - COMPLIANCE_MARGIN_V:
        raise SafetyBreach(f"voltage {voltage_v:.3f} V below the limit {limits.min_voltage_v:.3f} V")
    if current_a > limits.max_charge_current_a * 1.05 + 1e-3:
        raise SafetyBreach(f"charge current {current_a:.3f} A above the limit {limits.max_charge_current_a:.3f} A")
    if -current_a > limits.max_discharge_current_a * 1.05 + 1e-3:
        raise SafetyBreach(
            f"discharge current {-current_a:.3f} A above the limit {limits.max_discharge_current_a:.3f} A"
        )
    if math.isfinite(temperature_c) and temperature_c > limits.max_temperature_c:
        raise SafetyBreach(f"temperature {temperature_c:.1f} C above the limit {limits.max_temperature_c:.1f} C")


class SeriesCapture:
    """Reads the source meter at a fixed interval of scaled time and streams rows to the record.

    One instance per time-domain step. `sample()` takes one reading, checks it, appends it;
    `run_until(...)` repeats that until a condition holds or the step's time is up.
    """

    def __init__(self, ctx: CellContext, series: Any, sample_interval_s: float) -> None:
        self.ctx = ctx
        self.series = series
        self.sample_interval_s = sample_interval_s
        self.start_s = ctx.clock.now_s()
        self._rows: list[tuple[float, float, float, float]] = []
        self.last_voltage_v = math.nan
        self.last_current_a = math.nan

    def elapsed_s(self) -> float:
        return self.ctx.clock.now_s() - self.start_s

    def sample(self) -> tuple[float, float]:
        reading = self.ctx.require_source().read()
        temperature_c = self.ctx.temperature_c()
        time_s = self.elapsed_s()
        self._rows.append((time_s, reading.voltage_v, reading.current_a, temperature_c))
        if len(self._rows) >= READINGS_PER_APPEND:
            self.flush()
        self.ctx.progress.step_advanced(time_s)
        check_reading(
            self.ctx.limits, voltage_v=reading.voltage_v, current_a=reading.current_a, temperature_c=temperature_c
        )
        self.last_voltage_v, self.last_current_a = reading.voltage_v, reading.current_a
        return reading.voltage_v, reading.current_a

    def run_until(
        self, done: Callable[[float, float], bool], duration_s: float, *, near: Callable[[float, float], bool] | None = None
    ) -> str:
        """Sample until `done(voltage_v, current_a)` holds ("condition") or `duration_s` passes ("timeout").

        While `near(voltage_v, current_a)` holds, sample `NEAR_END_SPEEDUP` times more often:
        a cell's voltage falls fastest at the end of a discharge (the knee), and a cutoff
        seen one full interval late can be tens of millivolts past the cell's limit.
        """
        phase_start_s = self.elapsed_s()
        next_sample_s = phase_start_s
        while True:
            voltage_v, current_a = self.sample()
            if done(voltage_v, current_a):
                return "condition"
            if self.elapsed_s() - phase_start_s >= duration_s:
                return "timeout"
            close = near is not None and near(voltage_v, current_a)
            next_sample_s += self.sample_interval_s / NEAR_END_SPEEDUP if close else self.sample_interval_s
            self.ctx.wait_s(next_sample_s - self.elapsed_s())

    def flush(self) -> None:
        if not self._rows:
            return
        columns = np.array(self._rows, dtype=np.float64)
        self._rows.clear()
        self.series.append(**{name: columns[:, i] for i, name in enumerate(SERIES_COLUMNS)})


def _never(_voltage_v: float, _current_a: float) -> bool:
    return False


def run_ocv(ctx: CellContext, step: Any) -> None:
    ctx.wait_s(step.settle_s)
    voltage_v = ctx.require_impedance_meter().measure_voltage_v()
    temperature_c = ctx.temperature_c()
    ctx.record.write_scalars(step.name, kind="ocv", values={"voltage_v": voltage_v, "temperature_c": temperature_c})
    limits = ctx.limits
    if not (limits.min_voltage_v - 0.3 <= voltage_v <= limits.max_voltage_v + COMPLIANCE_MARGIN_V):
        raise SafetyBreach(
            f"open-circuit voltage {voltage_v:.3f} V is outside the cell type's window "
            f"{limits.min_voltage_v:.2f}..{limits.max_voltage_v:.2f} V: set the cell aside"
        )
    if math.isfinite(temperature_c) and temperature_c > limits.max_temperature_c:
        raise SafetyBreach(f"cell temperature {temperature_c:.1f} C above the limit {limits.max_temperature_c:.1f} C")


def run_eis(ctx: CellContext, step: Any) -> None:
    """Sweep the step's frequencies; the points measured are stored even when the sweep is cut short."""
    meter = ctx.require_impedance_meter()
    meter.configure_impedance(range_ohm=step.range_ohm, speed=step.speed, averaging=step.averaging)
    frequencies_hz = list(step.frequencies_hz)
    readings = []
    temperatures_c = [ctx.temperature_c()]
    start_s = ctx.clock.now_s()
    try:
        for frequency_hz in frequencies_hz:
            ctx.stop.raise_if_requested()
            readings.append(meter.measure_impedance(frequency_hz))
            ctx.progress.step_advanced(ctx.clock.now_s() - start_s)
        temperatures_c.append(ctx.temperature_c())
    finally:
        if readings:
            _write_sweep(ctx, step, readings, temperatures_c, len(frequencies_hz))


def _write_sweep(ctx: CellContext, step: Any, readings: list, temperatures_c: list[float], points_planned: int) -> None:
    finite_c = [t for t in temperatures_c if math.isfinite(t)]
    ctx.record.write_spectrum(
        step.name,
        kind="eis",
        frequency_hz=np.array([r.frequency_hz for r in readings]),
        z_real_ohm=np.array([r.z_real_ohm for r in readings]),
        z_imag_ohm=np.array([r.z_imag_ohm for r in readings]),
        voltage_v=np.array([r.voltage_v for r in readings]),
        temperature_c=float(np.mean(finite_c)) if finite_c else math.nan,
    )
    if len(readings) < points_planned:
        ctx.record.set_attrs(**{f"step_{step.name}_end": f"cut short after {len(readings)} of {points_planned} points"})


def _time_domain(ctx: CellContext, step: Any, kind: str, body: Callable[[SourceMeter, SeriesCapture], str]) -> None:
    """Open the step's series, run `body`, and whatever happens turn the output off and keep what was read."""
    source = ctx.require_source()
    with ctx.record.open_series(step.name, kind=kind, columns=SERIES_COLUMNS) as series:
        capture = SeriesCapture(ctx, series, step.sample_interval_s)
        try:
            end_reason = body(source, capture)
        finally:
            try:
                source.output_off()
            finally:
                capture.flush()
    ctx.record.set_attrs(**{f"step_{step.name}_end": end_reason})


def _compliance_high_v(ctx: CellContext) -> float:
    return ctx.limits.max_voltage_v + COMPLIANCE_MARGIN_V


def run_rest(ctx: CellContext, step: Any) -> None:
    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        source.source_current(0.0, voltage_limit_v=_compliance_high_v(ctx))
        return capture.run_until(_never, step.duration_s)

    _time_domain(ctx, step, "rest", body)


def run_pulse(ctx: CellContext, step: Any) -> None:
    signed_current_a = step.current_a if step.direction == "charge" else -step.current_a

    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        limit_v = _compliance_high_v(ctx)
        source.source_current(0.0, voltage_limit_v=limit_v)
        capture.run_until(_never, step.rest_before_s)
        source.source_current(signed_current_a, voltage_limit_v=limit_v)
        capture.run_until(_never, step.duration_s)
        source.source_current(0.0, voltage_limit_v=limit_v)
        return capture.run_until(_never, step.rest_after_s)

    _time_domain(ctx, step, "pulse", body)


def run_cc_charge(ctx: CellContext, step: Any) -> None:
    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        source.source_current(step.current_a, voltage_limit_v=step.cutoff_voltage_v + COMPLIANCE_MARGIN_V)
        return capture.run_until(
            lambda v, _i: v >= step.cutoff_voltage_v, step.max_duration_s, near=lambda v, _i: v >= step.cutoff_voltage_v - NEAR_END_V
        )

    _time_domain(ctx, step, "cc_charge", body)


def run_cccv_charge(ctx: CellContext, step: Any) -> None:
    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        source.source_current(step.current_a, voltage_limit_v=step.voltage_v)
        end = capture.run_until(
            lambda v, _i: v >= step.voltage_v - 0.002, step.max_duration_s, near=lambda v, _i: v >= step.voltage_v - NEAR_END_V
        )
        if end == "timeout":
            return end
        source.source_voltage(step.voltage_v, current_limit_a=step.current_a)
        remaining_s = max(step.max_duration_s - capture.elapsed_s(), 0.0)
        return capture.run_until(lambda _v, i: abs(i) <= step.end_current_a, remaining_s)

    _time_domain(ctx, step, "cccv_charge", body)


def run_cc_discharge(ctx: CellContext, step: Any) -> None:
    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        source.source_current(-step.current_a, voltage_limit_v=_compliance_high_v(ctx))
        return capture.run_until(
            lambda v, _i: v <= step.cutoff_voltage_v, step.max_duration_s, near=lambda v, _i: v <= step.cutoff_voltage_v + NEAR_END_V
        )

    _time_domain(ctx, step, "cc_discharge", body)


def run_soc_adjust(ctx: CellContext, step: Any) -> None:
    duration_s = step.fraction_of_capacity * ctx.cell_type.nominal_capacity_ah * 3600.0 / step.current_a

    def body(source: SourceMeter, capture: SeriesCapture) -> str:
        source.source_current(-step.current_a, voltage_limit_v=_compliance_high_v(ctx))
        return capture.run_until(
            lambda v, _i: v <= ctx.limits.min_voltage_v, duration_s, near=lambda v, _i: v <= ctx.limits.min_voltage_v + NEAR_END_V
        )

    _time_domain(ctx, step, "soc_adjust", body)


STEP_RUNNERS: dict[str, Callable[[CellContext, Any], None]] = {
    "ocv": run_ocv,
    "eis": run_eis,
    "rest": run_rest,
    "pulse": run_pulse,
    "cc_charge": run_cc_charge,
    "cccv_charge": run_cccv_charge,
    "cc_discharge": run_cc_discharge,
    "soc_adjust": run_soc_adjust,
}


def expected_duration_s(step: Any, nominal_capacity_ah: float) -> float:
    """A rough duration for progress bars and ETAs (scaled seconds); never used for control."""
    kind = step.kind
    if kind == "ocv":
        return max(step.settle_s, 1.0)
    if kind == "eis":
        return float(sum(max(4.0 / f, 0.5) for f in step.frequencies_hz))
    if kind == "rest":
        return step.duration_s
    if kind == "pulse":
        return step.rest_before_s + step.duration_s + step.rest_after_s
    if kind in ("cc_charge", "cccv_charge", "cc_discharge"):
        return min(nominal_capacity_ah * 3600.0 / step.current_a, step.max_duration_s)
    if kind == "soc_adjust":
        return step.fraction_of_capacity * nominal_capacity_ah * 3600.0 / step.current_a
    return 1.0


def run_profile_steps(ctx: CellContext, steps: tuple[Any, ...]) -> None:
    """Run every step in order. Exceptions propagate with the outputs already off."""
    try:
        for step in steps:
            ctx.stop.raise_if_requested()
            ctx.progress.step_started(step.name, step.kind, expected_duration_s(step, ctx.cell_type.nominal_capacity_ah))
            STEP_RUNNERS[step.kind](ctx, step)
            ctx.progress.step_finished(step.name)
    finally:
        if ctx.source_meter is not None:
            ctx.source_meter.output_off()
