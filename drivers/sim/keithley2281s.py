"""Simulated Keithley 2281S-20-6 in battery test mode: CC-CV charge to a full voltage, ending at an end current.

A minimal subset of the 2281S battery-test commands: `:ENTRy:FUNCtion TEST` selects the
mode; `:BATTery:TEST:VOLTage` (full voltage), `:BATTery:TEST:CURRent:LIMit` (charge
current), `:BATTery:TEST:CURRent:END` (the test stops when the current falls below it);
`:BATTery:OUTPut ON|OFF` starts/stops; while running, one point is logged every
`:BATTery:TEST:SAMPle:INTerval` simulated seconds; `:BATTery:DATA:DATA?` returns the
buffer as voltage, current, resistance, capacity (Ah), time (s) per point.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.clock import ScaledClock
from drivers.sim.base import TrayInstrument
from drivers.sim.scpi import (
    ScpiError,
    bool_reply,
    expect_count,
    parse_bool,
    parse_choice,
    parse_float_in,
    settings_conflict,
)
from drivers.sim.tray import SourceReadback, Tray

MAX_VOLTAGE_V = 20.0
MAX_CURRENT_A = 6.0
BUFFER_POINTS = 2500
NOT_A_NUMBER = 9.91e37


@dataclass(frozen=True)
class LoggedPoint:
    voltage_v: float
    current_a: float
    resistance_ohm: float
    capacity_ah: float
    time_s: float


class Keithley2281S(TrayInstrument):
    def __init__(self, tray: Tray, clock: ScaledClock, *, seed: int, serial: str = "4420123") -> None:
        super().__init__(f"KEITHLEY INSTRUMENTS,MODEL 2281S-20-6,{serial},01.05.00", tray, clock, seed)
        self.source = tray.add_source("keithley2281s")
        self.source.observer = self._observe
        self._add_commands()
        self.reset()

    def reset(self) -> None:
        with self.changing_tray():
            self.source.output_on = False
            self.source.mode = "VOLT"
            self.source.level = 4.2
            self.source.current_limit_a = 1.0
        self.function = "POW"
        self.end_current_a = 0.05
        self.sample_interval_s = 1.0
        self.points: list[LoggedPoint] = []
        self._charge_ah = 0.0
        self._run_start_s = 0.0
        self._last_sample_s = 0.0
        self._last_step_s = 0.0

    def _observe(self, time_s: float, readback: SourceReadback) -> None:
        """Runs on every tray sub-step while charging: integrate Ah, log points, stop at the end current."""
        self._charge_ah += readback.current_a * (time_s - self._last_step_s) / 3600.0
        self._last_step_s = time_s
        if time_s - self._last_sample_s >= self.sample_interval_s - 1e-9:
            self._log(time_s, readback)
        past_inrush = time_s - self._run_start_s > 5.0
        if self.function == "TEST" and past_inrush and abs(readback.current_a) < self.end_current_a:
            if self._last_sample_s != time_s:  # the end point, unless it was just logged
                self._log(time_s, readback)
            self.source.output_on = False

    def _log(self, time_s: float, readback: SourceReadback) -> None:
        self._last_sample_s = time_s
        if len(self.points) >= BUFFER_POINTS:
            return
        resistance = readback.voltage_v / readback.current_a if readback.current_a else NOT_A_NUMBER
        self.points.append(LoggedPoint(readback.voltage_v, readback.current_a, resistance, self._charge_ah,
                                       time_s - self._run_start_s))

    def _set_output(self, params: list[str]) -> None:
        expect_count(params, 1)
        on = parse_bool(params[0])
        if on and self.function != "TEST":
            raise settings_conflict()
        with self.changing_tray():
            if on and not self.source.output_on:
                now_s = self.clock.now_s()
                self.points = []
                self._charge_ah = 0.0
                self._run_start_s = self._last_sample_s = self._last_step_s = now_s
            self.source.output_on = on

    def _set(self, attribute: str, low: float, high: float):
        def setter(params: list[str]) -> None:
            expect_count(params, 1)
            value = parse_float_in(params[0], low, high)
            with self.changing_tray():
                setattr(self._target(attribute), attribute.split(".")[-1], value)
        return setter

    def _target(self, attribute: str):
        return self.source if attribute.startswith("source.") else self

    def _data(self, params: list[str]) -> str:
        with self.tray.lock:  # the buffer grows from whichever instrument advances the tray
            points = list(self.points)
        if not points:
            raise ScpiError(-230, "Data corrupt or stale")
        return ",".join(
            f"{p.voltage_v:+.6E},{p.current_a:+.6E},{p.resistance_ohm:+.6E},{p.capacity_ah:+.6E},{p.time_s:+.6E}"
            for p in points
        )

    def _add_commands(self) -> None:
        t = self.table
        fmt = lambda v: f"{v:+.6E}"  # noqa: E731
        t.add(":ENTRy:FUNCtion", lambda p: setattr(self, "function", parse_choice(p[0], ("POWer", "TEST", "SIMulator"))),
              lambda p: self.function)
        t.add(":BATTery:TEST:VOLTage", self._set("source.level", 0.0, MAX_VOLTAGE_V), lambda p: fmt(self.source.level))
        t.add(":BATTery:TEST:CURRent:LIMit[:SOURce]", self._set("source.current_limit_a", 0.0, MAX_CURRENT_A),
              lambda p: fmt(self.source.current_limit_a))
        t.add(":BATTery:TEST:CURRent:END", self._set("end_current_a", 0.0, MAX_CURRENT_A), lambda p: fmt(self.end_current_a))
        t.add(":BATTery:TEST:SAMPle:INTerval", self._set("sample_interval_s", 0.05, 3600.0),
              lambda p: fmt(self.sample_interval_s))
        t.add(":BATTery:OUTPut[:STATe]", self._set_output, lambda p: bool_reply(self.source.output_on))
        t.add(":OUTPut[:STATe]", self._set_output, lambda p: bool_reply(self.source.output_on))
        t.add(":BATTery:DATA:DATA", query=self._data)
        t.add(":BATTery:DATA:POINts", query=lambda p: str(len(self.points)))
        t.add(":BATTery:DATA:CLEar", lambda p: self._clear())
        t.add(":MEASure[:VOLTage]", query=self._measure_voltage)
        t.add(":MEASure:CURRent", query=self._measure_current)

    def _clear(self) -> None:
        with self.tray.lock:
            self.points = []

    def _measure_voltage(self, params: list[str]) -> str:
        return f"{self.noisy(self.tray.source_readback(self.source).voltage_v, relative=2e-5, absolute=1e-4):+.6E}"

    def _measure_current(self, params: list[str]) -> str:
        current = self.tray.source_readback(self.source).current_a
        return f"{self.noisy(current, relative=5e-4, absolute=1e-5) if current else 0.0:+.6E}"
