"""Simulated Keithley 2400 (or 2460) SourceMeter: sources current or voltage into the connected cell with compliance.

SCPI over LF-terminated lines. Positive current charges the cell, negative discharges.
`:READ?`/`:MEASure?`/`:FETCh?` answer the elements chosen by `:FORMat:ELEMents` in
`+3.712345E+00` format; TIME is simulated seconds since power-on; STATUS carries the
compliance bit (bit 3). With the output off a reading is the cell's open-circuit voltage
and 0 A. `*RST` turns the output off.
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
    parse_float,
    parse_float_in,
    short_form,
    split_outside_quotes,
    unquote,
)
from drivers.sim.tray import Tray

ELEMENTS = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus")
NOT_A_NUMBER = 9.91e37
STATUS_COMPLIANCE = 1 << 3
STATUS_OUTPUT_ON = 1 << 5  # not the real bit layout in full; enough to tell on from off


@dataclass(frozen=True)
class SourceMeterModel:
    """What differs between the models: identity and source limits."""

    model: str
    idn_vendor: str
    firmware: str
    max_current_a: float
    max_voltage_v: float


MODELS = {
    "2400": SourceMeterModel("2400", "KEITHLEY INSTRUMENTS INC.,MODEL 2400", "C30", 1.05, 210.0),
    "2460": SourceMeterModel("2460", "KEITHLEY INSTRUMENTS,MODEL 2460", "1.7.0b", 7.35, 105.0),
}


class Keithley2400(TrayInstrument):
    """The simulated SourceMeter; its source settings live in a `SourceControl` registered on the tray."""

    def __init__(self, tray: Tray, clock: ScaledClock, *, seed: int, model: str = "2400", serial: str = "4101234",
                 open_lead_slots: frozenset[int] = frozenset()) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown SourceMeter model {model!r}: choose one of {', '.join(MODELS)}")
        self.model = MODELS[model]
        super().__init__(f"{self.model.idn_vendor},{serial},{self.model.firmware}", tray, clock, seed)
        self.source = tray.add_source("keithley" + model)
        self.source.open_lead_slots = open_lead_slots
        self.elements: tuple[str, ...] = tuple(short_form(e) for e in ELEMENTS)
        self.remote_sense = False
        self.sense_functions = ['"VOLT:DC"', '"CURR:DC"']
        self.current_range_a = 1.05
        self.voltage_range_v = 21.0
        self.sense_voltage_range_v = 21.0
        self.levels = {"CURR": 0.0, "VOLT": 0.0}
        self._add_commands()
        self.reset()

    def reset(self) -> None:
        with self.changing_tray():
            self.source.output_on = False
            self.source.mode = "VOLT"
            self.source.level = 0.0
            self.source.voltage_limit_v = 21.0
            self.source.current_limit_a = 105e-6
        self.levels = {"CURR": 0.0, "VOLT": 0.0}
        self.elements = tuple(short_form(e) for e in ELEMENTS)
        self.remote_sense = False

    # ------------------------------------------------------------ readings
    def _read(self, params: list[str]) -> str:
        readback = self.tray.source_readback(self.source)
        voltage_v = self.noisy(readback.voltage_v, relative=2e-5, absolute=1e-4)
        current_a = self.noisy(readback.current_a, relative=3e-4, absolute=1e-6) if readback.current_a else 0.0
        resistance = voltage_v / current_a if current_a else NOT_A_NUMBER
        status = (STATUS_COMPLIANCE if readback.in_compliance else 0) | (STATUS_OUTPUT_ON if self.source.output_on else 0)
        values = {"VOLT": voltage_v, "CURR": current_a, "RES": resistance, "TIME": self.clock.now_s(), "STAT": float(status)}
        return ",".join(f"{values[name]:+.6E}" for name in self.elements)

    # ------------------------------------------------------------ commands
    def _set_level(self, mode: str, params: list[str]) -> None:
        expect_count(params, 1)
        limit = self.model.max_current_a if mode == "CURR" else self.model.max_voltage_v
        value = parse_float_in(params[0], -limit, limit)
        with self.changing_tray():
            self.levels[mode] = value
            if self.source.mode == mode:
                self.source.level = value

    def _set_source_function(self, params: list[str]) -> None:
        expect_count(params, 1)
        mode = parse_choice(params[0], ("CURRent", "VOLTage"))
        with self.changing_tray():
            self.source.mode = mode
            self.source.level = self.levels[mode]

    def _set_output(self, params: list[str]) -> None:
        expect_count(params, 1)
        on = parse_bool(params[0])
        with self.changing_tray():
            self.source.output_on = on

    def _set_compliance(self, which: str, params: list[str]) -> None:
        expect_count(params, 1)
        if which == "VOLT":
            limit_v = abs(parse_float_in(params[0], -self.model.max_voltage_v, self.model.max_voltage_v))
            with self.changing_tray():
                self.source.voltage_limit_v = limit_v
        else:
            limit_a = abs(parse_float_in(params[0], -self.model.max_current_a, self.model.max_current_a))
            with self.changing_tray():
                self.source.current_limit_a = limit_a

    def _set_elements(self, params: list[str]) -> None:
        if not params:
            raise ScpiError(-109, "Missing parameter")
        self.elements = tuple(parse_choice(p, ELEMENTS) for p in params)

    def _set_sense_function(self, params: list[str]) -> None:
        if not params:
            raise ScpiError(-109, "Missing parameter")
        functions = []
        for item in params:
            for name in split_outside_quotes(unquote(item), ","):
                base = unquote(name).split(":")[0]
                functions.append(f'"{parse_choice(base, ("VOLTage", "CURRent", "RESistance"))}:DC"')
        self.sense_functions = functions

    def _add_commands(self) -> None:
        t = self.table
        fmt = lambda v: f"{v:+.6E}"  # noqa: E731
        t.add(":SOURce:FUNCtion[:MODE]", self._set_source_function, lambda p: self.source.mode)
        t.add(":SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]", lambda p: self._set_level("CURR", p),
              lambda p: fmt(self.levels["CURR"]))
        t.add(":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", lambda p: self._set_level("VOLT", p),
              lambda p: fmt(self.levels["VOLT"]))
        t.add(":SOURce:CURRent:RANGe[:AUTO]", lambda p: self._set_range("current_range_a", p, self.model.max_current_a),
              lambda p: fmt(self.current_range_a))
        t.add(":SOURce:VOLTage:RANGe[:AUTO]", lambda p: self._set_range("voltage_range_v", p, self.model.max_voltage_v),
              lambda p: fmt(self.voltage_range_v))
        t.add(":SOURce:CURRent:MODE", lambda p: parse_choice(p[0], ("FIXed",)), lambda p: "FIX")
        t.add(":SOURce:VOLTage:MODE", lambda p: parse_choice(p[0], ("FIXed",)), lambda p: "FIX")
        t.add(":SOURce:CURRent:VLIMit", lambda p: self._set_compliance("VOLT", p), lambda p: fmt(self.source.voltage_limit_v))
        t.add(":SOURce:VOLTage:ILIMit", lambda p: self._set_compliance("CURR", p), lambda p: fmt(self.source.current_limit_a))
        t.add(":SOURce:CLEar[:IMMediate]", lambda p: self._set_output(["OFF"]))
        t.add(":SENSe:FUNCtion[:ON]", self._set_sense_function, lambda p: ",".join(self.sense_functions))
        t.add(":SENSe:FUNCtion:CONCurrent", lambda p: parse_bool(p[0]), lambda p: "1")
        t.add(":SENSe:VOLTage[:DC]:PROTection[:LEVel]", lambda p: self._set_compliance("VOLT", p),
              lambda p: fmt(self.source.voltage_limit_v))
        t.add(":SENSe:CURRent[:DC]:PROTection[:LEVel]", lambda p: self._set_compliance("CURR", p),
              lambda p: fmt(self.source.current_limit_a))
        t.add(":SENSe:VOLTage[:DC]:RANGe[:UPPer]", lambda p: self._set_range("sense_voltage_range_v", p, self.model.max_voltage_v),
              lambda p: fmt(self.sense_voltage_range_v))
        t.add(":SENSe:VOLTage[:DC]:RANGe:AUTO", lambda p: parse_bool(p[0]), lambda p: "1")
        t.add(":SENSe:CURRent[:DC]:RANGe[:UPPer]", lambda p: parse_float(p[0]), lambda p: fmt(self.current_range_a))
        t.add(":SENSe:CURRent[:DC]:RANGe:AUTO", lambda p: parse_bool(p[0]), lambda p: "1")
        t.add(":SENSe:VOLTage[:DC]:NPLCycles", lambda p: parse_float_in(p[0], 0.01, 10), lambda p: "+1.000000E+00")
        t.add(":SENSe:CURRent[:DC]:NPLCycles", lambda p: parse_float_in(p[0], 0.01, 10), lambda p: "+1.000000E+00")
        t.add(":OUTPut[:STATe]", self._set_output, lambda p: bool_reply(self.source.output_on))
        t.add(":OUTPut:SMODe", lambda p: parse_choice(p[0], ("HIMPedance", "NORMal", "ZERO", "GUARd")), lambda p: "NORM")
        t.add(":SYSTem:RSENse", lambda p: setattr(self, "remote_sense", parse_bool(p[0])), lambda p: bool_reply(self.remote_sense))
        t.add(":SYSTem:BEEPer[:STATe]", lambda p: parse_bool(p[0]), lambda p: "0")
        t.add(":SYSTem:TIME", query=lambda p: fmt(self.clock.now_s()))
        t.add(":SYSTem:LOCal", lambda p: None)
        t.add(":SYSTem:REMote", lambda p: None)
        t.add(":DISPlay[:WINDow1]:ENABle", lambda p: parse_bool(p[0]), lambda p: "1")
        t.add(":FORMat:ELEMents[:SENSe1]", self._set_elements, lambda p: ",".join(self.elements))
        t.add(":FORMat[:DATA]", lambda p: parse_choice(p[0], ("ASCii",)), lambda p: "ASC")
        t.add(":TRIGger:COUNt", lambda p: parse_float_in(p[0], 1, 2500), lambda p: "1")
        t.add(":ARM:COUNt", lambda p: parse_float_in(p[0], 1, 2500), lambda p: "1")
        t.add(":INITiate[:IMMediate]", lambda p: None)
        t.add(":ABORt", lambda p: None)
        t.add(":READ", query=self._read)
        t.add(":FETCh", query=self._read)
        t.add(":MEASure[:VOLTage][:CURRent][:RESistance]", query=self._read)

    def _set_range(self, attribute: str, params: list[str], maximum: float) -> None:
        expect_count(params, 1)
        word = params[0].strip().upper()
        if word in ("ON", "OFF", "1", "0"):  # the :AUTO form
            return
        setattr(self, attribute, abs(parse_float_in(params[0], -maximum, maximum)))
