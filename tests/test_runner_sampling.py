"""The runner samples faster near a voltage end condition, and keeps every reading when the output fails to turn off.

Unit tests of `bench.runner` with a scripted source meter (a stand-in inside one
function's test; the real drivers and simulator are exercised end to end elsewhere).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bench.interrupts import StopRequest
from bench.runner import CellContext, run_cc_discharge
from drivers.clock import ScaledClock
from drivers.protocols import SourceReading

LIMITS = SimpleNamespace(min_voltage_v=2.5, max_voltage_v=4.2, max_charge_current_a=2.5,
                         max_discharge_current_a=5.0, max_temperature_c=60.0)


class LinearDischarge:
    """A cell whose voltage falls 1 mV per (scaled) second while a current flows."""

    max_current_a = 1.0

    def __init__(self, clock: ScaledClock, start_v: float = 2.9, fail_output_off: bool = False) -> None:
        self.clock, self.start_v, self.fail_output_off = clock, start_v, fail_output_off
        self.on_since_s: float | None = None

    def source_current(self, current_a: float, *, voltage_limit_v: float) -> None:
        self.on_since_s = self.clock.now_s()

    def read(self) -> SourceReading:
        elapsed_s = self.clock.now_s() - (self.on_since_s or 0.0)
        return SourceReading(self.start_v - 1e-3 * elapsed_s, -1.0, elapsed_s)

    def output_off(self) -> None:
        if self.fail_output_off:
            raise RuntimeError("link lost")


class Series:
    def __init__(self) -> None:
        self.time_s: list[float] = []

    def append(self, **columns: np.ndarray) -> None:
        self.time_s.extend(columns["time_s"])

    def __enter__(self) -> "Series":
        return self

    def __exit__(self, *exc: object) -> None: ...


class Record:
    def __init__(self) -> None:
        self.series = Series()

    def open_series(self, step: str, *, kind: str, columns: tuple[str, ...], attrs: dict | None = None) -> Series:
        return self.series

    def set_attrs(self, **attrs: object) -> None: ...


def context(source: LinearDischarge, clock: ScaledClock, record: Record) -> CellContext:
    progress = SimpleNamespace(step_advanced=lambda elapsed_s: None)
    return CellContext(impedance_meter=None, source_meter=source, thermometer=None, clock=clock, limits=LIMITS,
                       record=record, stop=StopRequest(), progress=progress, cell_type=SimpleNamespace(nominal_capacity_ah=2.5))


STEP = SimpleNamespace(name="discharge", kind="cc_discharge", current_a=1.0, cutoff_voltage_v=2.6,
                       max_duration_s=1000.0, sample_interval_s=20.0)


def test_sampling_quickens_near_the_cutoff_so_the_end_is_seen_early() -> None:
    clock = ScaledClock(speed=2000.0)
    record = Record()
    run_cc_discharge(context(LinearDischarge(clock), clock, record), STEP)
    times_s = np.array(record.series.time_s)
    gaps_s = np.diff(times_s)
    far = gaps_s[: 3]  # 2.9 V .. 2.84 V: more than 0.15 V above the 2.6 V cutoff
    assert np.median(far) == pytest.approx(20.0, abs=3.0)
    assert np.median(gaps_s[-5:]) < 5.0, "within 0.15 V of the cutoff, samples come ten times as often"
    overshoot_v = 2.6 - (2.9 - 1e-3 * (times_s[-1] - times_s[0]))
    assert overshoot_v < 0.01


def test_readings_are_kept_when_turning_the_output_off_fails() -> None:
    clock = ScaledClock(speed=2000.0)
    record = Record()
    with pytest.raises(RuntimeError):
        run_cc_discharge(context(LinearDischarge(clock, fail_output_off=True), clock, record), STEP)
    assert len(record.series.time_s) > 10 and all(math.isfinite(t) for t in record.series.time_s)
