"""The Keithley 2400 driver against the simulated SourceMeter, over TCP and over a pseudo-terminal."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from drivers.properties import SettingOutOfRange
from drivers.protocols import ConnectionLost, InstrumentError, SourceMeter
from drivers.sim import station as sim_station
from drivers.keithley_2400 import Keithley2400, model_from_idn
from drivers.registry import open_instrument
from sim_helpers import clear_injected_faults


def plain_output_state(resource: str, termination: str = "\n") -> str:
    """Ask the instrument directly, with plain PyVISA and no project code, whether its output is on."""
    import pyvisa

    manager = pyvisa.ResourceManager("@py")  # shared per process: not closed, other links use it
    instrument = manager.open_resource(resource, read_termination=termination, write_termination=termination,
                                       timeout=3000)
    try:
        return instrument.query(":OUTP?").strip()
    finally:
        instrument.close()


@pytest.fixture(scope="module", params=["tcp", "pty"])
def sim(request) -> Iterator:
    """One simulated station per transport for the whole module; each test opens (and so resets) the driver."""
    with sim_station.SimulatedStation(cells=2, seed=1, chemistry="nmc", speed=200,
                                      keithley2400_transport=request.param) as station:
        yield station


@pytest.fixture(autouse=True)
def no_faults_left_behind(request) -> Iterator[None]:
    """Tests inject faults into the shared station at run time; clear them after each test."""
    yield
    if "sim" not in request.fixturenames:
        return
    clear_injected_faults(request.getfixturevalue("sim"), "keithley2400")


@pytest.fixture
def smu(sim) -> Iterator[Keithley2400]:
    instrument = open_instrument("keithley_2400", sim.resources["keithley2400"], name="keithley2400",
                                 timeout_ms=1000)
    yield instrument
    instrument.output_off()
    instrument.close()


def commands_seen(sim) -> int:
    return sim.plan.for_instrument("keithley2400").commands_seen


def test_configure_sets_readback_format_and_four_wire_and_identifies_the_model(smu: Keithley2400) -> None:
    assert isinstance(smu, SourceMeter)
    assert smu.model == "2400"
    assert smu.max_current_a == 1.05
    assert smu.elements == "VOLT,CURR,TIME"
    assert smu.remote_sense is True
    assert smu.output_is_on() is False


def test_discharge_current_is_negative_and_pulls_the_voltage_down(smu: Keithley2400) -> None:
    rest = smu.read()
    assert rest.current_a == pytest.approx(0.0, abs=1e-3)
    smu.source_current(-1.0, voltage_limit_v=4.25)
    assert smu.output_is_on()
    assert (smu.source_function, smu.source_current_a, smu.voltage_protection_v) == ("CURR", -1.0, 4.25)
    loaded = smu.read()
    assert loaded.current_a == pytest.approx(-1.0, abs=0.01)
    assert loaded.voltage_v < rest.voltage_v - 0.01  # I*R drop of a discharging cell
    later = smu.read()
    assert later.instrument_time_s > loaded.instrument_time_s
    smu.output_off()
    smu.output_off()  # idempotent
    assert smu.output_is_on() is False


def test_charge_and_constant_voltage_with_current_limit(smu: Keithley2400) -> None:
    ocv_v = smu.read().voltage_v
    smu.source_current(0.5, voltage_limit_v=4.2)
    assert smu.read().voltage_v > ocv_v
    smu.source_voltage(ocv_v + 0.3, current_limit_a=0.25)
    assert (smu.source_function, smu.current_protection_a) == ("VOLT", 0.25)
    assert smu.source_voltage_v == pytest.approx(ocv_v + 0.3, abs=1e-5)
    reading = smu.read()
    assert 0 < reading.current_a <= 0.25 + 1e-3  # current-limited charge into a lower-voltage cell


def test_currents_beyond_the_model_are_refused_before_anything_is_sent(sim, smu: Keithley2400) -> None:
    before = commands_seen(sim)
    with pytest.raises(SettingOutOfRange, match="keithley2400: source current -2 A is beyond this model's 1.05 A"):
        smu.source_current(-2.0, voltage_limit_v=4.2)
    with pytest.raises(SettingOutOfRange):
        smu.source_current(0.5, voltage_limit_v=-1.0)
    with pytest.raises(ValueError):  # SettingOutOfRange is also a ValueError
        smu.source_voltage(4.2, current_limit_a=1.5)
    assert commands_seen(sim) == before


def test_an_instrument_side_refusal_names_the_command_and_leaves_the_output_off(smu: Keithley2400) -> None:
    smu.source_current(-0.5, voltage_limit_v=4.25)
    smu._max_current_a = 5.0  # pretend a larger model so the driver lets the instrument judge
    with pytest.raises(InstrumentError) as caught:
        smu.source_current(-1.2, voltage_limit_v=4.25)
    assert str(caught.value) == "keithley2400: command ':SOUR:CURR -1.2' failed: -222,\"Data out of range\""
    assert smu.output_is_on() is False


def test_a_dropped_connection_mid_command_is_a_clear_error_and_the_output_ends_off(sim, smu: Keithley2400) -> None:
    smu.source_current(-0.5, voltage_limit_v=4.25)
    faults = sim.plan.for_instrument("keithley2400")
    # the next source_current sends :SOUR:FUNC, check, :SENS:VOLT:PROT, check, :SOUR:CURR <- dropped here
    faults.drop_after = faults.commands_seen + 5
    start = time.monotonic()
    with pytest.raises(InstrumentError) as caught:
        smu.source_current(-1.0, voltage_limit_v=4.25)
    assert time.monotonic() - start < 1.0 + 1.0  # within the link timeout, plus the output-off round trips
    message = str(caught.value)
    assert message.startswith("keithley2400: ") and "':SOUR:CURR -1'" in message and "\n" not in message
    if sim.resources["keithley2400"].startswith("TCPIP"):  # a socket tells a drop apart; a serial line loses the line
        assert isinstance(caught.value, ConnectionLost) and "may not have been applied" in message
    else:
        assert "was lost" in message
    assert plain_output_state(sim.resources["keithley2400"]) == "0"


def test_a_reply_lost_in_a_drop_is_asked_again_on_a_new_connection(sim, smu: Keithley2400) -> None:
    smu.source_current(-0.5, voltage_limit_v=4.25)
    faults = sim.plan.for_instrument("keithley2400")
    faults.drop_after = faults.commands_seen + 1
    reading = smu.read()  # :READ? is idempotent: retried after reconnecting
    assert reading.current_a == pytest.approx(-0.5, abs=0.01)
    assert faults.dropped


def test_a_silent_instrument_fails_within_the_bounded_retries(sim) -> None:
    smu = open_instrument("keithley_2400", sim.resources["keithley2400"], name="keithley2400", timeout_ms=300)
    try:
        faults = sim.plan.for_instrument("keithley2400")
        faults.no_reply_after = faults.commands_seen + 1
        start = time.monotonic()
        with pytest.raises(ConnectionLost, match="keithley2400: no reply .* within 300 ms.*after 2 attempts"):
            smu.read()
        assert time.monotonic() - start < 1.5
        smu.output_off()  # never raises, even now
    finally:
        smu.close()


def test_a_corrupted_reading_is_read_again(sim, smu: Keithley2400) -> None:
    faults = sim.plan.for_instrument("keithley2400")
    faults.corrupt_every = faults.replies_sent + 1  # the very next reply is garbled, the one after is not
    reading = smu.read()
    assert reading.voltage_v > 2.5


def test_model_from_idn_and_the_2460_range() -> None:
    assert model_from_idn("KEITHLEY INSTRUMENTS INC.,MODEL 2400,4100001,C30") == "2400"
    assert model_from_idn("KEITHLEY INSTRUMENTS,MODEL 2460,04412345,1.7.0b") == "2460"
    with pytest.raises(InstrumentError):
        model_from_idn("ACME,SUPPLY,1,2")
    with sim_station.SimulatedStation(cells=1, seed=2, chemistry="nmc", speed=200, keithley2400_model="2460") as sim:
        smu = open_instrument("keithley_2400", sim.resources["keithley2400"], name="k2460")
        try:
            assert smu.max_current_a == 7.0
        finally:
            smu.close()
