"""Hioki BT4560 battery impedance meter: AC impedance from 0.1 Hz to 1050 Hz, DC voltage, temperature.

Link: RS-232C or USB virtual COM, CR+LF both ways. `configure()` runs the sequence a
production line uses (reset, beeper off, RV function, 30 mOhm range, medium sampling,
wave-count delay, zero-cross, slope correction, external trigger, continuous
initiation); each point is then `:FREQ <Hz>` followed by the one-line compound query
`*TRG;*WAI;:FETC?`, answered `R,X,V` (ohm, ohm, volt). X is Im(Z) as the meter
reports it (negative where the cell is capacitive), so it is passed on unchanged.

A voltage above 1E+8 in that reply is the meter's way of saying a lead is open; a
negative one means the cell sits in the fixture reversed. Both are raised as their
own exceptions so the procedure can fail that cell and go on with the next.
"""

from __future__ import annotations

from typing import Sequence

from drivers.properties import (
    SettingOutOfRange,
    as_bool,
    as_float,
    as_int,
    as_keyword,
    discrete,
    in_range,
    int_in_range,
    one_of,
    on_off,
    setting,
)
from drivers.protocols import CellReversed, ImpedanceReading, InstrumentError, LeadOpen
from drivers.scpi import ScpiInstrument, ScpiSession, parse_number, parse_numbers

RANGES_OHM = (3e-3, 30e-3, 300e-3, 3.0)
SPEEDS = ("FAST", "MED", "SLOW")
FREQUENCY_MIN_HZ = 0.1
FREQUENCY_MAX_HZ = 1050.0
OPEN_LEAD_VOLTAGE_V = 1e8
FETCH_COMMAND = "*TRG;*WAI;:FETC?"
# A point takes a few periods per average plus sampling time; wait that long on top of the link timeout.
PERIODS_PER_POINT = 10.0
SAMPLING_ALLOWANCE_S = 1.0


class HiokiBT4560(ScpiInstrument):
    """ImpedanceMeter and Thermometer over the BT4560's own command set."""

    read_termination = "\r\n"
    write_termination = "\r\n"
    default_baud_rate = 9600

    function = setting(":FUNC {}", ":FUNC?", validator=one_of("RV", "V"), parse=as_keyword("RV", "V"),
                       doc="RV: impedance and voltage; V: voltage only.")
    range_ohm = setting(":RANG {:.1E}", ":RANG?", validator=discrete(*RANGES_OHM), parse=as_float,
                        doc="Impedance range in ohm (3 mOhm, 30 mOhm, 300 mOhm, 3 Ohm).")
    impedance_speed = setting(":SAMP:RATE Z,{}", ":SAMP:RATE? Z", validator=one_of(*SPEEDS),
                              parse=as_keyword(*SPEEDS), doc="Sampling speed of impedance measurements.")
    voltage_speed = setting(":SAMP:RATE V,{}", ":SAMP:RATE? V", validator=one_of(*SPEEDS),
                            parse=as_keyword(*SPEEDS), doc="Sampling speed of voltage measurements.")
    delay_mode = setting(":SAMP:DEL:MODE {}", ":SAMP:DEL:MODE?", validator=one_of("WAVE", "TIME"),
                         parse=as_keyword("WAVE", "TIME"), doc="Delay before sampling: counted in waves or time.")
    delay_waves = setting(":SAMP:DEL:WAVE {:g}", ":SAMP:DEL:WAVE?", validator=in_range(0.0, 10.0), parse=as_float,
                          doc="Delay in periods of the measurement frequency.")
    beeper = setting(":SYST:BEEP {}", ":SYST:BEEP?", validator=on_off, parse=as_bool)
    limiter = setting(":LIM {}", ":LIM?", validator=on_off, parse=as_bool)
    zero_cross = setting(":ZERO:CROS {}", ":ZERO:CROS?", validator=on_off, parse=as_bool,
                         doc="Start sampling at a zero crossing of the applied current.")
    averaging = setting(":CALC:AVER {}", ":CALC:AVER?", validator=int_in_range(1, 256), parse=as_int)
    slope_adjust = setting(":ADJ:SLOP {}", ":ADJ:SLOP?", validator=on_off, parse=as_bool,
                           doc="Correct the drift of the cell voltage during a point.")
    trigger_source = setting(":TRIG:SOUR {}", ":TRIG:SOUR?", validator=one_of("IMM", "EXT"),
                             parse=as_keyword("IMM", "EXT"))
    continuous = setting(":INIT:CONT {}", ":INIT:CONT?", validator=on_off, parse=as_bool)
    frequency_hz = setting(":FREQ {:.6g}", ":FREQ?", validator=in_range(FREQUENCY_MIN_HZ, FREQUENCY_MAX_HZ),
                           parse=as_float, doc="Frequency of the next impedance point.")

    def __init__(self, session: ScpiSession) -> None:
        super().__init__(session)
        self._averaging = 1  # mirrors :CALC:AVER, to size the wait for each point

    def configure(self) -> None:
        """The production-line sequence; every step checks the error queue, so a refusal names its command."""
        self.reset()
        self.beeper = False
        self.function = "RV"
        self.range_ohm = 30e-3
        self.voltage_speed = "MED"
        self.impedance_speed = "MED"
        self.delay_mode = "WAVE"
        self.delay_waves = 0.5
        self.limiter = False
        self.zero_cross = True
        self.averaging = 1
        self.slope_adjust = True
        self.trigger_source = "EXT"
        self.continuous = True
        self._averaging = 1

    def configure_impedance(self, *, range_ohm: float, speed: str, averaging: int) -> None:
        """Range, sampling speed and averaging for the next points; all three are validated before any is sent."""
        speed = "MED" if str(speed).upper() == "MEDIUM" else speed
        cls = type(self)
        for descriptor, value in ((cls.range_ohm, range_ohm), (cls.impedance_speed, speed), (cls.averaging, averaging)):
            descriptor.command_for(value, self.name)
        self.range_ohm = range_ohm
        self.impedance_speed = speed
        self.averaging = averaging
        self._averaging = int(averaging)

    def _point_timeout_ms(self, frequency_hz: float) -> int:
        extra_s = self._averaging * (PERIODS_PER_POINT / frequency_hz + SAMPLING_ALLOWANCE_S)
        return self.session.transport.settings.timeout_ms + int(extra_s * 1000.0)

    def _check_voltage(self, voltage_v: float, reply: str) -> None:
        if voltage_v > OPEN_LEAD_VOLTAGE_V:
            raise LeadOpen(f"{self.name}: a measurement lead is open (voltage reply {reply!r}): check the probe contacts")
        if voltage_v < 0:
            raise CellReversed(f"{self.name}: the cell reads {voltage_v:.4f} V: it is connected in reverse")

    def measure_impedance(self, frequency_hz: float) -> ImpedanceReading:
        """One point: set the frequency, trigger, fetch `R,X,V`."""
        self.frequency_hz = frequency_hz
        z_real_ohm, z_imag_ohm, voltage_v = self.session.query_numbers(
            FETCH_COMMAND, 3, timeout_ms=self._point_timeout_ms(frequency_hz))
        self._check_voltage(voltage_v, f"{z_real_ohm:g},{z_imag_ohm:g},{voltage_v:g}")
        return ImpedanceReading(
            frequency_hz=float(frequency_hz), z_real_ohm=z_real_ohm, z_imag_ohm=z_imag_ohm, voltage_v=voltage_v
        )

    def measure_spectrum(self, frequencies_hz: Sequence[float]) -> list[ImpedanceReading]:
        for frequency_hz in frequencies_hz:  # validate the whole sweep before the first point
            try:
                type(self).frequency_hz.command_for(frequency_hz, self.name)
            except SettingOutOfRange:
                raise SettingOutOfRange(
                    f"{self.name}: frequency {frequency_hz!r} Hz is outside "
                    f"{FREQUENCY_MIN_HZ:g}..{FREQUENCY_MAX_HZ:g} Hz"
                ) from None
        return [self.measure_impedance(frequency_hz) for frequency_hz in frequencies_hz]

    def measure_voltage_v(self) -> float:
        """DC voltage alone, in the V function.

        In RV mode a trigger also measures impedance at the present frequency, which after a
        sweep may be 0.1 Hz (a minute on the real meter); the V function takes a fraction
        of a second. The previous function is restored afterwards.
        """
        previous = self.function
        if previous != "V":
            self.function = "V"
        try:
            voltage_v = self.session.query_parsed(
                FETCH_COMMAND, self._parse_voltage, timeout_ms=self._point_timeout_ms(1.0))
        finally:
            if previous != "V":
                self.function = previous
        self._check_voltage(voltage_v, f"{voltage_v:g}")
        return voltage_v

    def _parse_voltage(self, reply: str) -> float:
        fields = reply.split(",")
        if len(fields) == 3:
            return parse_numbers(reply, 3, instrument=self.name, command=FETCH_COMMAND)[2]
        if len(fields) == 1:
            return parse_number(reply, instrument=self.name, command=FETCH_COMMAND)
        raise InstrumentError(f"{self.name}: reply to {FETCH_COMMAND!r} should be 'R,X,V' or 'V', got {reply!r}")

    def measure_temperature_c(self) -> float:
        """Temperature of the cell from the meter's sensor, in degrees C."""
        return self.session.query_number(":MEAS:TEMP?")
