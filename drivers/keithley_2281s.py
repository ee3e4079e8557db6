"""Keithley 2281S-20-6 battery simulator / precision DC supply, driven in its battery test mode.

Battery test mode (`:ENTR:FUNC TEST`) charges a cell to a full voltage
(`:BATT:TEST:VOLT`) with a current limit (`:BATT:TEST:CURR:LIM`) and stops by itself
when the current falls below the end current (`:BATT:TEST:CURR:END`), logging voltage,
current, resistance, charged Ah and time into a buffer (`:BATT:DATA:DATA?`).

As a SourceMeter it can therefore only charge: `source_voltage(v, current_limit_a=i)` is
a CC-CV charge to v at up to i, and `source_current(i, voltage_limit_v=v)` with i > 0 is
the same thing seen from the current side (constant current until the cell reaches v).
A current of 0 means rest: the output is turned off. A negative (discharge) current is
refused before anything is sent: use a 2400-series SourceMeter for discharge steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.properties import SettingOutOfRange, as_bool, as_float, as_keyword, in_range, one_of, on_off, setting
from drivers.protocols import InstrumentError, SourceReading
from drivers.output_off import confirm_output_off
from drivers.scpi import ScpiInstrument, ScpiSession, parse_numbers

MAX_VOLTAGE_V = 20.0
MAX_CURRENT_A = 6.0
DATA_COMMAND = ":BATT:DATA:DATA?"
FIELDS_PER_POINT = 5  # voltage, current, resistance, capacity (Ah), time (s)
DEFAULT_END_CURRENT_A = 0.05


@dataclass(frozen=True)
class BatteryTestPoint:
    """One point of the battery-test buffer. `capacity_ah` is the charge delivered since the test started."""

    voltage_v: float
    current_a: float
    resistance_ohm: float
    capacity_ah: float
    time_s: float


class Keithley2281S(ScpiInstrument):
    """SourceMeter (charge only) over the 2281S battery-test commands, plus its data buffer."""

    read_termination = "\n"
    write_termination = "\n"
    default_baud_rate = 9600

    function = setting(":ENTR:FUNC {}", ":ENTR:FUNC?", validator=one_of("POW", "TEST", "SIM"),
                       parse=as_keyword("POWER", "TEST", "SIMULATOR"),
                       doc="POW: power supply; TEST: battery test; SIM: battery simulator.")
    full_voltage_v = setting(":BATT:TEST:VOLT {:.6g}", ":BATT:TEST:VOLT?", validator=in_range(0.0, MAX_VOLTAGE_V),
                             parse=as_float, doc="Voltage the test charges to (CV phase).")
    current_limit_a = setting(":BATT:TEST:CURR:LIM {:.6g}", ":BATT:TEST:CURR:LIM?",
                              validator=in_range(0.0, MAX_CURRENT_A), parse=as_float, doc="Charge current (CC phase).")
    end_current_a = setting(":BATT:TEST:CURR:END {:.6g}", ":BATT:TEST:CURR:END?", validator=in_range(0.0, MAX_CURRENT_A),
                            parse=as_float, doc="The test stops when the charge current falls below this.")
    sample_interval_s = setting(":BATT:TEST:SAMP:INT {:.6g}", ":BATT:TEST:SAMP:INT?", validator=in_range(0.05, 3600.0),
                                parse=as_float, doc="Interval between logged points (s).")
    output_enabled = setting(":BATT:OUTP {}", ":BATT:OUTP?", validator=on_off, parse=as_bool)

    def __init__(self, session: ScpiSession, *, end_current_a: float = DEFAULT_END_CURRENT_A) -> None:
        super().__init__(session)
        self.default_end_current_a = end_current_a
        self.output_off_confirmed = True  # False from a failed `output_off` until one succeeds

    @property
    def max_current_a(self) -> float:
        return MAX_CURRENT_A

    def configure(self) -> None:
        """Reset (output off) and select battery test mode; then check the error queue."""
        self.reset()
        self.function = "TEST"
        self.end_current_a = self.default_end_current_a

    def charge(self, *, voltage_v: float, current_limit_a: float, end_current_a: float | None = None) -> None:
        """Start a CC-CV charge; the instrument stops it at the end current. All values checked before sending."""
        end_a = self.default_end_current_a if end_current_a is None else end_current_a
        cls = type(self)
        settings = [("full_voltage_v", voltage_v), ("current_limit_a", current_limit_a), ("end_current_a", end_a)]
        for attribute, value in settings:
            getattr(cls, attribute).command_for(value, self.name)
        try:
            for attribute, value in settings:
                setattr(self, attribute, value)
            self.output_enabled = True
        except InstrumentError:
            self.output_off()
            raise

    def source_voltage(self, voltage_v: float, *, current_limit_a: float) -> None:
        self.charge(voltage_v=voltage_v, current_limit_a=abs(current_limit_a))

    def source_current(self, current_a: float, *, voltage_limit_v: float) -> None:
        if current_a < 0:
            raise SettingOutOfRange(
                f"{self.name}: the 2281S battery test mode only charges; {current_a:g} A would discharge: "
                "use a keithley_2400 as source_meter for discharge steps"
            )
        if current_a == 0:
            self.output_off()
            return
        self.charge(voltage_v=voltage_limit_v, current_limit_a=current_a)

    def read(self) -> SourceReading:
        """Voltage and current now (`:MEAS:VOLT?`, `:MEAS:CURR?`).

        These queries carry no time stamp, so `instrument_time_s` is NaN; the logged points of
        `read_log()` carry the test's own time.
        """
        voltage_v = self.session.query_number(":MEAS:VOLT?")
        current_a = self.session.query_number(":MEAS:CURR?")
        return SourceReading(voltage_v=voltage_v, current_a=current_a, instrument_time_s=math.nan)

    def logged_points(self) -> int:
        return self.session.query_integer(":BATT:DATA:POIN?")

    def read_log(self) -> list[BatteryTestPoint]:
        """Every point of the battery-test buffer, in order."""
        reply = self.session.query(DATA_COMMAND)
        count = reply.count(",") + 1
        if count % FIELDS_PER_POINT:
            raise InstrumentError(
                f"{self.name}: reply to {DATA_COMMAND!r} holds {count} values, not a multiple of {FIELDS_PER_POINT}")
        values = parse_numbers(reply, count, instrument=self.name, command=DATA_COMMAND)
        return [BatteryTestPoint(*values[i:i + FIELDS_PER_POINT]) for i in range(0, count, FIELDS_PER_POINT)]

    def output_is_on(self) -> bool:
        return self.output_enabled

    def output_off(self) -> None:
        """Stop the test and confirm; at most two tries, never raising on a dead link."""
        self.output_off_confirmed = confirm_output_off(
            self.session, self.name, off_command=":BATT:OUTP OFF", state_query=":BATT:OUTP?", was_confirmed=self.output_off_confirmed
        )
