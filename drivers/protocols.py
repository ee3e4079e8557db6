"""Capability protocols: what a procedure may ask of an instrument, whatever its model.

Procedures in `bench` type their instruments with these protocols only, so that a
BT4560 or another impedance meter, a 2400 or a 2281S, can stand on the bench without a
procedure changing. Readings are small frozen dataclasses with units in field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class ImpedanceReading:
    """One impedance point. `z_imag_ohm` is Im(Z): negative where the cell is capacitive."""

    frequency_hz: float
    z_real_ohm: float
    z_imag_ohm: float
    voltage_v: float


@dataclass(frozen=True)
class SourceReading:
    """One readback of a source-measure unit. `current_a` is negative while discharging."""

    voltage_v: float
    current_a: float
    instrument_time_s: float


class InstrumentError(Exception):
    """An instrument reported an error, or answered in a way the driver cannot accept.

    The message names the instrument and the command that caused it.
    """


class ConnectionLost(InstrumentError):
    """The transport failed (timeout, closed connection) and retries were exhausted."""


class LeadOpen(InstrumentError):
    """The impedance meter reports an open lead (voltage reply above 1E+8)."""


class CellReversed(InstrumentError):
    """The impedance meter reads a negative voltage: the cell is connected in reverse."""


@runtime_checkable
class Instrument(Protocol):
    """Every instrument: identity, reset, and a close that leaves it safe."""

    @property
    def idn(self) -> str: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ImpedanceMeter(Instrument, Protocol):
    """An AC-impedance meter with DC voltage readback (e.g. Hioki BT4560)."""

    def configure_impedance(self, *, range_ohm: float, speed: str, averaging: int) -> None:
        """Set range (ohm), sampling speed ('FAST'|'MED'|'SLOW') and averaging count."""

    def measure_impedance(self, frequency_hz: float) -> ImpedanceReading:
        """Measure Z and V at one frequency. Raises LeadOpen / CellReversed."""

    def measure_spectrum(self, frequencies_hz: Sequence[float]) -> list[ImpedanceReading]:
        """Measure Z and V at each frequency in the order given."""

    def measure_voltage_v(self) -> float:
        """Open-circuit voltage of the connected cell."""


@runtime_checkable
class Thermometer(Instrument, Protocol):
    def measure_temperature_c(self) -> float: ...


@runtime_checkable
class SourceMeter(Instrument, Protocol):
    """A source-measure unit or cycler channel: sources current or voltage, reads V and I.

    Every method that turns the output on has a compliance limit; `output_off` is
    idempotent and safe to call from any error path.
    """

    @property
    def max_current_a(self) -> float: ...

    def source_current(self, current_a: float, *, voltage_limit_v: float) -> None:
        """Source a constant current (negative discharges) and turn the output on."""

    def source_voltage(self, voltage_v: float, *, current_limit_a: float) -> None:
        """Source a constant voltage with a current limit and turn the output on."""

    def read(self) -> SourceReading:
        """One voltage/current reading while the output is on (or off)."""

    def output_off(self) -> None: ...

    def output_is_on(self) -> bool: ...


@runtime_checkable
class Switch(Instrument, Protocol):
    """Connects one tray slot (1-based) to the station's instruments."""

    @property
    def slot_count(self) -> int: ...

    def connect_slot(self, slot: int) -> None: ...

    def connected_slot(self) -> int | None: ...

    def disconnect_all(self) -> None: ...
