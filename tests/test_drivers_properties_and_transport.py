"""Declarative settings (validators, parsers, descriptors) and the transports' own behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.properties import (
    InvalidValue,
    Setting,
    SettingOutOfRange,
    as_keyword,
    discrete,
    in_range,
    int_in_range,
    on_off,
    one_of,
    setting,
)
from drivers.protocols import InstrumentError
from drivers.transport import SERIAL_SCHEME, TransportSettings, open_transport
from drivers.sim import station as sim_station


def test_in_range_accepts_the_closed_interval_and_rejects_the_rest() -> None:
    validate = in_range(0.1, 1050.0)
    assert validate(0.1) == 0.1 and validate("1050") == 1050.0
    for bad in (0.0999, 1050.01, float("nan"), float("inf"), "ten", None):
        with pytest.raises(InvalidValue):
            validate(bad)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_in_range_agrees_with_the_interval(value: float) -> None:
    validate = in_range(-1.05, 1.05)
    if -1.05 <= value <= 1.05:
        assert validate(value) == value
    else:
        with pytest.raises(InvalidValue):
            validate(value)


def test_discrete_one_of_int_and_on_off() -> None:
    ranges = discrete(3e-3, 30e-3, 300e-3, 3.0)
    assert ranges(0.03) == 30e-3 and ranges("3") == 3.0
    with pytest.raises(InvalidValue, match="is not one of 0.003, 0.03, 0.3, 3"):
        ranges(0.1)
    speeds = one_of("FAST", "MED", "SLOW")
    assert speeds(" med ") == "MED"
    with pytest.raises(InvalidValue):
        speeds("MEDIUM")
    averaging = int_in_range(1, 256)
    assert averaging(4) == 4 and averaging(4.0) == 4
    for bad in (0, 257, 2.5, True, "4"):
        with pytest.raises(InvalidValue):
            averaging(bad)
    assert (on_off(True), on_off(0), on_off("on")) == ("ON", "OFF", "ON")
    with pytest.raises(InvalidValue):
        on_off("maybe")


def test_keyword_replies_in_short_long_and_echoed_forms() -> None:
    parse = as_keyword("FAST", "MED", "SLOW")
    assert parse("MED", "m", "c") == "MED"
    assert parse("MEDium", "m", "c") == "MED"
    assert parse("Z,SLOW", "m", "c") == "SLOW"
    assert as_keyword("RV", "V")("V", "m", "c") == "V"
    assert as_keyword("POWER", "TEST")("POW", "m", "c") == "POWER"
    with pytest.raises(InstrumentError, match=r"m: reply to 'c' should be one of FAST, MED, SLOW, got 'TURBO'"):
        parse("TURBO", "m", "c")


class _Session:
    """Records what a Setting sends; answers queries from a dict."""

    name = "meter"

    def __init__(self, replies: dict[str, str], errors: list[str] | None = None) -> None:
        self.replies = replies
        self.sent: list[str] = []
        self.errors = errors or []

    def query_parsed(self, command: str, parse):
        self.sent.append(command)
        return parse(self.replies[command])

    def write(self, command: str) -> None:
        self.sent.append(command)

    def check_errors(self, *, after: str) -> None:
        if self.errors:
            raise InstrumentError(f"{self.name}: command {after!r} failed: {self.errors.pop(0)}")


class _Meter:
    frequency_hz = setting(":FREQ {:.6g}", ":FREQ?", validator=in_range(0.1, 1050.0))
    trigger_only = setting(":TRIG", None)

    def __init__(self, session: _Session) -> None:
        self.session = session


def test_a_setting_queries_validates_writes_and_checks() -> None:
    session = _Session({":FREQ?": "+1.000000E+03"})
    meter = _Meter(session)
    assert meter.frequency_hz == 1000.0
    meter.frequency_hz = 0.5
    assert session.sent == [":FREQ?", ":FREQ 0.5"]
    with pytest.raises(SettingOutOfRange, match=r"^meter: frequency_hz 2000 is outside 0.1..1050$"):
        meter.frequency_hz = 2000
    assert session.sent == [":FREQ?", ":FREQ 0.5"]  # nothing sent for a refused value
    session.errors.append('-222,"Data out of range"')
    with pytest.raises(InstrumentError, match=r"command ':FREQ 1000' failed"):
        meter.frequency_hz = 1000
    with pytest.raises(AttributeError, match="can be set but not read back"):
        _ = meter.trigger_only
    assert isinstance(_Meter.frequency_hz, Setting)


def test_transport_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="timeout_ms"):
        TransportSettings(timeout_ms=0)
    with pytest.raises(ValueError, match="parity"):
        TransportSettings(parity="sometimes")
    with pytest.raises(ValueError, match="stop_bits"):
        TransportSettings(stop_bits=3)
    with pytest.raises(ValueError, match="data_bits"):
        TransportSettings(data_bits=9)


def test_the_pyserial_scheme_talks_to_a_serial_instrument() -> None:
    from drivers.hioki_bt4560 import HiokiBT4560
    from drivers.registry import open_instrument

    with sim_station.SimulatedStation(cells=1, seed=3, chemistry="lfp", speed=500) as sim:
        port = sim.resources["bt4560"].removeprefix("ASRL").removesuffix("::INSTR")
        meter = open_instrument("hioki_bt4560", f"{SERIAL_SCHEME}{port}", name="bt4560", baud_rate=9600,
                                parity="none", stop_bits=1, data_bits=8)
        try:
            assert isinstance(meter, HiokiBT4560)
            assert meter.idn.startswith("HIOKI,BT4560")
            assert 2.5 < meter.measure_voltage_v() < 3.7
        finally:
            meter.close()
    with pytest.raises(InstrumentError, match=r"^bt4560: cannot open serial port '/dev/does-not-exist'"):
        open_transport("serial:/dev/does-not-exist", TransportSettings(), name="bt4560")
