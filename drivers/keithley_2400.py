"""Keithley 2400-series SourceMeter (2400: +/-1.05 A, 2460: +/-7 A) as a SourceMeter for one cell.

Sources current (positive charges the cell, negative discharges it) with a voltage
compliance, or voltage with a current compliance, and reads back voltage, current and
the instrument's time stamp (`:FORM:ELEM VOLT,CURR,TIME`, set once in `configure`).

Safety rules this driver keeps:
- the compliance limit is set before the level, and the level before `:OUTP ON`, each
  checked against the error queue; if any step is refused the output is turned off
  before the error propagates;
- a current beyond the model's range is refused before anything is sent;
- `output_off` is idempotent, never re-sends a source setting, and confirms with
  `:OUTP?`; over a dead link it makes one fresh attempt and then reports, without
  raising, so that it is safe in every `finally`.
"""

from __future__ import annotations

import re

from drivers.properties import (
    InvalidValue,
    SettingOutOfRange,
    as_bool,
    as_float,
    as_keyword,
    in_range,
    one_of,
    on_off,
    setting,
)
from drivers.protocols import InstrumentError, SourceReading
from drivers.output_off import confirm_output_off
from drivers.scpi import ScpiInstrument, ScpiSession

READ_COMMAND = ":READ?"
READ_ELEMENTS = "VOLT,CURR,TIME"
# Largest DC source current per model (A). The 2460's 7.35 A range is used up to 7 A here.
MAX_CURRENT_BY_MODEL_A = {
    "2400": 1.05, "2401": 1.05, "2410": 1.05, "2450": 1.05,
    "2420": 3.15, "2425": 3.15, "2430": 3.15, "2440": 5.25,
    "2460": 7.0, "2461": 7.0,
}
MAX_VOLTAGE_V = 210.0
MODEL_PATTERN = re.compile(r"MODEL\s+(\d{4})", re.IGNORECASE)

ELEMENT_NAMES = ("VOLT", "CURR", "RES", "TIME", "STAT")


def element_list(value: object) -> str:
    """A comma-separated subset of VOLT,CURR,RES,TIME,STAT, each at most once."""
    if not isinstance(value, str):
        raise InvalidValue(f"{value!r} is not a comma-separated list of {', '.join(ELEMENT_NAMES)}")
    names = [name.strip().upper() for name in value.split(",")]
    if not names or any(name not in ELEMENT_NAMES for name in names) or len(set(names)) != len(names):
        raise InvalidValue(f"{value!r} is not a comma-separated list of {', '.join(ELEMENT_NAMES)}")
    return ",".join(names)


def model_from_idn(idn: str) -> str:
    """'KEITHLEY INSTRUMENTS INC.,MODEL 2400,1234,C30' -> '2400'."""
    fields = idn.split(",")
    match = MODEL_PATTERN.search(fields[1] if len(fields) > 1 else idn)
    if match is None:
        raise InstrumentError(f"cannot read a Keithley model number from *IDN? reply {idn!r}")
    return match.group(1)


class Keithley2400(ScpiInstrument):
    """SourceMeter over the 2400 SCPI command set."""

    read_termination = "\n"
    write_termination = "\n"
    default_baud_rate = 9600

    source_function = setting(":SOUR:FUNC {}", ":SOUR:FUNC?", validator=one_of("CURR", "VOLT"),
                              parse=as_keyword("CURR", "VOLT"))
    source_current_a = setting(":SOUR:CURR {:.6g}", ":SOUR:CURR?", validator=in_range(-7.35, 7.35), parse=as_float,
                               doc="Current level; use source_current(), which checks the model's range.")
    source_voltage_v = setting(":SOUR:VOLT {:.6g}", ":SOUR:VOLT?", validator=in_range(-MAX_VOLTAGE_V, MAX_VOLTAGE_V),
                               parse=as_float)
    voltage_protection_v = setting(":SENS:VOLT:PROT {:.6g}", ":SENS:VOLT:PROT?",
                                   validator=in_range(0.0, MAX_VOLTAGE_V), parse=as_float,
                                   doc="Voltage compliance while sourcing current.")
    current_protection_a = setting(":SENS:CURR:PROT {:.6g}", ":SENS:CURR:PROT?", validator=in_range(0.0, 7.35),
                                   parse=as_float, doc="Current compliance while sourcing voltage.")
    remote_sense = setting(":SYST:RSEN {}", ":SYST:RSEN?", validator=on_off, parse=as_bool,
                           doc="4-wire (Kelvin) sensing: the cell's voltage without the leads' drop.")
    elements = setting(":FORM:ELEM {}", ":FORM:ELEM?", validator=element_list,
                       parse=lambda reply, _i, _c: reply.replace('"', "").replace(" ", "").upper(),
                       doc="What :READ? answers, in order; the driver needs VOLT,CURR,TIME.")
    output_enabled = setting(":OUTP {}", ":OUTP?", validator=on_off, parse=as_bool)

    def __init__(self, session: ScpiSession, *, four_wire: bool = True) -> None:
        super().__init__(session)
        self.four_wire = four_wire
        self._max_current_a: float | None = None
        self.output_off_confirmed = True  # False from a failed `output_off` until one succeeds

    @property
    def model(self) -> str:
        return model_from_idn(self.idn)

    @property
    def max_current_a(self) -> float:
        """The model's largest source current, from `*IDN?`."""
        if self._max_current_a is None:
            model = self.model
            if model not in MAX_CURRENT_BY_MODEL_A:
                raise InstrumentError(
                    f"{self.name}: Keithley model {model} is not supported by the keithley_2400 driver "
                    f"(known: {', '.join(sorted(MAX_CURRENT_BY_MODEL_A))})"
                )
            self._max_current_a = MAX_CURRENT_BY_MODEL_A[model]
        return self._max_current_a

    def configure(self) -> None:
        """Reset (output off), readback format, sensing; then check the error queue."""
        self.reset()
        self.elements = READ_ELEMENTS
        self.remote_sense = self.four_wire
        _ = self.max_current_a  # refuse an unknown model at open, not mid-test

    def _check_current(self, current_a: float, what: str) -> None:
        limit_a = self.max_current_a
        if not abs(current_a) <= limit_a:
            raise SettingOutOfRange(f"{self.name}: {what} {current_a:g} A is beyond this model's {limit_a:g} A")

    def _switch_on(self, commands: list[tuple[str, float | str]]) -> None:
        """Apply settings in order, each checked, then `:OUTP ON`, then read every one back.

        The read-back catches a command lost on the way (a serial line drops it silently; no
        error is queued for a command that never arrived). On any refusal or mismatch the
        output is turned off before the error propagates.
        """
        try:
            for attribute, value in commands:
                setattr(self, attribute, value)
            self.output_enabled = True
            for attribute, value in commands:
                self._verify(attribute, value)
            if not self.output_enabled:
                raise InstrumentError(f"{self.name}: the output reads off after ':OUTP ON'")
        except InstrumentError:
            self.output_off()
            raise

    def _verify(self, attribute: str, expected: float | str) -> None:
        actual = getattr(self, attribute)
        descriptor = getattr(type(self), attribute)
        same = (actual == expected if isinstance(expected, str)
                else abs(actual - expected) <= 1e-5 * max(abs(expected), 1e-3))
        if not same:
            command = descriptor.command_for(expected, self.name)
            raise InstrumentError(
                f"{self.name}: {descriptor.query} reads {actual!r} after {command!r}: the command was lost; "
                "check the connection"
            )

    def source_current(self, current_a: float, *, voltage_limit_v: float) -> None:
        """Constant current (negative discharges) with a voltage compliance, output on."""
        self._check_current(current_a, "source current")
        for descriptor, value in ((type(self).voltage_protection_v, voltage_limit_v),
                                  (type(self).source_current_a, current_a)):
            descriptor.command_for(value, self.name)  # refuse bad values before anything is sent
        self._switch_on([("source_function", "CURR"), ("voltage_protection_v", voltage_limit_v),
                         ("source_current_a", current_a)])

    def source_voltage(self, voltage_v: float, *, current_limit_a: float) -> None:
        """Constant voltage with a current compliance, output on."""
        self._check_current(current_limit_a, "current limit")
        for descriptor, value in ((type(self).current_protection_a, abs(current_limit_a)),
                                  (type(self).source_voltage_v, voltage_v)):
            descriptor.command_for(value, self.name)
        self._switch_on([("source_function", "VOLT"), ("current_protection_a", abs(current_limit_a)),
                         ("source_voltage_v", voltage_v)])

    def read(self) -> SourceReading:
        """`:READ?` -> voltage, current, instrument time (the order set by `:FORM:ELEM`)."""
        voltage_v, current_a, time_s = self.session.query_numbers(READ_COMMAND, 3)
        return SourceReading(voltage_v=voltage_v, current_a=current_a, instrument_time_s=time_s)

    def output_is_on(self) -> bool:
        return self.output_enabled

    def output_off(self) -> None:
        """Turn the output off and confirm it; at most two tries, never raising on a dead link."""
        self.output_off_confirmed = confirm_output_off(
            self.session, self.name, off_command=":OUTP OFF", state_query=":OUTP?", was_confirmed=self.output_off_confirmed
        )

    def close(self) -> None:
        super().close()
