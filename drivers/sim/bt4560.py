"""Simulated Hioki BT4560 battery impedance meter: R, X and V of the connected cell at 0.1..1050 Hz.

Speaks the BT4560's RS-232C command set with CR+LF terminators. A trigger (`*TRG`,
`:READ?`, or a `:FETCh?` with nothing measured since the last fetch) takes simulated
time: a few periods of the test frequency plus the sampling time, times the averaging
count, slept as real time / speed. Open leads answer a voltage of +1E+9, a reversed
cell a negative voltage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.clock import ScaledClock
from drivers.sim.base import TrayInstrument
from drivers.sim.scpi import (
    expect_count,
    out_of_range,
    parse_bool,
    parse_choice,
    parse_float,
    parse_float_in,
)
from drivers.sim.tray import Tray

RANGES_OHM = (3e-3, 30e-3, 300e-3, 3.0)
RATES = ("FAST", "MEDium", "SLOW")
SAMPLING_TIME_S = {"FAST": 0.02, "MED": 0.1, "SLOW": 0.4}
MIN_FREQUENCY_HZ = 0.1
MAX_FREQUENCY_HZ = 1050.0
OPEN_LEAD_REPLY = 1.0e9
# accuracy class: ~0.2 % of reading plus a floor of 30 ppm of the range; DC voltage ~50 uV
Z_RELATIVE_NOISE = 0.002
Z_FLOOR_FRACTION_OF_RANGE = 3e-5
V_NOISE_V = 5e-5


@dataclass
class Bt4560Settings:
    function: str = "RV"
    range_ohm: float = 3.0
    rate_v: str = "MED"
    rate_z: str = "MED"
    delay_mode: str = "WAVE"
    delay_waves: float = 0.5
    beeper: bool = True
    limiter: bool = False
    zero_cross: bool = True
    averaging: int = 1
    adjust_slope: bool = True
    trigger_source: str = "IMM"
    continuous: bool = True
    frequency_hz: float = 1000.0


def format_ohm(value_ohm: float, range_ohm: float) -> str:
    """R or X the way the meter prints it on `range_ohm`: `+28.512E-3` on the 30 mOhm range."""
    decimals = {3e-3: 4, 30e-3: 3, 300e-3: 2}.get(range_ohm)
    if decimals is None:
        return f"{value_ohm:+.4f}E+0"
    return f"{value_ohm * 1e3:+.{decimals}f}E-3"


def format_range(range_ohm: float) -> str:
    """The range as `30.0E-3` (mOhm ranges) or `3.0E+0`."""
    return f"{range_ohm:.1f}E+0" if range_ohm >= 1 else f"{range_ohm * 1e3:.1f}E-3"


def format_volt(value_v: float) -> str:
    if abs(value_v) >= 1e6:
        return f"{value_v / 1e9:+.4f}E+9"
    return f"{value_v:+.4f}E+0"


class Bt4560(TrayInstrument):
    """The simulated BT4560. `open_lead_slots`: slots whose sense leads are open (a fault)."""

    terminator = "\r\n"

    def __init__(self, tray: Tray, clock: ScaledClock, *, seed: int, serial: str = "230612345",
                 open_lead_slots: frozenset[int] = frozenset()) -> None:
        super().__init__(f"HIOKI,BT4560,{serial},V1.00", tray, clock, seed)
        self.settings = Bt4560Settings()
        self.open_lead_slots = open_lead_slots
        self._pending: str | None = None
        self._add_commands()

    def reset(self) -> None:
        self.settings = Bt4560Settings()
        self._pending = None

    def trigger(self) -> None:
        self._pending = self._measure()

    # ------------------------------------------------------------ measurement
    def measurement_time_s(self) -> float:
        """Simulated time of one triggered measurement: waves at the test frequency plus sampling, times averaging."""
        s = self.settings
        if s.function == "V":
            return SAMPLING_TIME_S[s.rate_v] * s.averaging
        waves_s = max(2.0 / s.frequency_hz, 0.05) + s.delay_waves / s.frequency_hz
        return (waves_s + SAMPLING_TIME_S[s.rate_z] + SAMPLING_TIME_S[s.rate_v]) * s.averaging

    def _measure(self) -> str:
        self.clock.sleep_s(self.measurement_time_s())
        self.tray.advance(self.clock.now_s())
        s = self.settings
        lead_open = self.tray.connected_slot is None or self.tray.connected_slot in self.open_lead_slots
        if lead_open:
            garbage = [OPEN_LEAD_REPLY * (1 + float(self.rng.uniform(0, 0.5))) for _ in range(2)]
            voltage = format_volt(OPEN_LEAD_REPLY)
            if s.function == "V":
                return voltage
            return f"{garbage[0] / 1e9:+.4f}E+9,{garbage[1] / 1e9:+.4f}E+9,{voltage}"
        voltage_v = self.tray.terminal_voltage_v() or 0.0
        voltage = format_volt(self.noisy(voltage_v, relative=1e-5, absolute=V_NOISE_V))
        if s.function == "V":
            return voltage
        z = self.tray.impedance_ohm(s.frequency_hz) or 0j
        floor = Z_FLOOR_FRACTION_OF_RANGE * s.range_ohm
        averaging_gain = 1.0 / math.sqrt(s.averaging)
        r = self.noisy(z.real, relative=Z_RELATIVE_NOISE * averaging_gain, absolute=floor * averaging_gain)
        x = float(z.imag + self.rng.normal(0.0, (abs(z) * Z_RELATIVE_NOISE + floor) * averaging_gain))
        return f"{format_ohm(r, s.range_ohm)},{format_ohm(x, s.range_ohm)},{voltage}"

    def _fetch(self, params: list[str]) -> str:
        reply, self._pending = self._pending, None
        return reply if reply is not None else self._measure()

    def _temperature(self, params: list[str]) -> str:
        temperature_c = self.tray.temperature_c()
        if temperature_c is None:
            return "+25.0"
        return f"{self.noisy(temperature_c, relative=0.0, absolute=0.05):+.1f}"

    # ------------------------------------------------------------ commands
    def _add_commands(self) -> None:
        t = self.table
        s = lambda: self.settings  # noqa: E731 - settings are replaced on *RST

        def set_function(p: list[str]) -> None:
            expect_count(p, 1)
            s().function = parse_choice(p[0], ("RV", "V"))

        def set_range(p: list[str]) -> None:
            expect_count(p, 1)
            value = parse_float(p[0])
            match = next((r for r in RANGES_OHM if math.isclose(value, r, rel_tol=1e-6)), None)
            if match is None:
                raise out_of_range()
            s().range_ohm = match

        def set_rate(p: list[str]) -> None:
            expect_count(p, 2)
            which = parse_choice(p[0], ("V", "Z"))
            rate = parse_choice(p[1], RATES)
            if which == "V":
                s().rate_v = rate
            else:
                s().rate_z = rate

        def query_rate(p: list[str]) -> str:
            expect_count(p, 1)
            return s().rate_v if parse_choice(p[0], ("V", "Z")) == "V" else s().rate_z

        def setter_bool(name: str):
            def set_value(p: list[str]) -> None:
                expect_count(p, 1)
                setattr(s(), name, parse_bool(p[0]))
            return set_value

        def query_onoff(name: str):
            return lambda p: "ON" if getattr(s(), name) else "OFF"

        def set_frequency(p: list[str]) -> None:
            expect_count(p, 1)
            s().frequency_hz = parse_float_in(p[0], MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ)

        def set_average(p: list[str]) -> None:
            expect_count(p, 1)
            value = parse_float(p[0])
            if value != round(value) or not 1 <= value <= 256:
                raise out_of_range()
            s().averaging = int(value)

        def set_delay_mode(p: list[str]) -> None:
            expect_count(p, 1)
            s().delay_mode = parse_choice(p[0], ("WAVE", "TIME"))

        def set_delay_waves(p: list[str]) -> None:
            expect_count(p, 1)
            s().delay_waves = parse_float_in(p[0], 0.0, 100.0)

        def set_trigger_source(p: list[str]) -> None:
            expect_count(p, 1)
            s().trigger_source = parse_choice(p[0], ("IMMediate", "EXTernal"))

        t.add(":FUNCtion", set_function, lambda p: s().function)
        t.add(":RANGe", set_range, lambda p: format_range(s().range_ohm))
        t.add(":SAMPle:RATE", set_rate, query_rate)
        t.add(":SAMPle:DELay:MODE", set_delay_mode, lambda p: s().delay_mode)
        t.add(":SAMPle:DELay:WAVE", set_delay_waves, lambda p: f"{s().delay_waves:.1f}")
        t.add(":SYSTem:BEEPer[:STATe]", setter_bool("beeper"), query_onoff("beeper"))
        t.add(":LIMiter[:STATe]", setter_bool("limiter"), query_onoff("limiter"))
        t.add(":ZERO:CROSs", setter_bool("zero_cross"), query_onoff("zero_cross"))
        t.add(":ADJust:SLOPe", setter_bool("adjust_slope"), query_onoff("adjust_slope"))
        t.add(":CALCulate:AVERage", set_average, lambda p: str(s().averaging))
        t.add(":TRIGger:SOURce", set_trigger_source, lambda p: s().trigger_source)
        t.add(":INITiate:CONTinuous", setter_bool("continuous"), query_onoff("continuous"))
        t.add(":INITiate[:IMMediate]", lambda p: self.trigger())
        t.add(":FREQuency", set_frequency, lambda p: f"{s().frequency_hz:.2f}")
        t.add(":FETCh", query=self._fetch)
        t.add(":READ", query=lambda p: self._measure())
        t.add(":MEASure:TEMPerature", query=self._temperature)
