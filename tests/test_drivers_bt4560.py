"""The Hioki BT4560 driver against the simulated meter, over a pseudo-terminal (CR+LF serial) and over TCP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from drivers.properties import SettingOutOfRange
from drivers.protocols import CellReversed, ConnectionLost, ImpedanceMeter, InstrumentError, LeadOpen, Thermometer
from drivers.sim import station as sim_station
from drivers.hioki_bt4560 import HiokiBT4560
from drivers.registry import open_instrument
from sim_helpers import clear_injected_faults


@pytest.fixture(scope="module", params=["pty", "tcp"])
def sim(request) -> Iterator:
    """One simulated station per transport for the whole module; each test opens (and so resets) the driver."""
    with sim_station.SimulatedStation(cells=2, seed=1, chemistry="nmc", speed=200,
                                      bt4560_transport=request.param) as station:
        yield station


@pytest.fixture(autouse=True)
def no_faults_left_behind(request) -> Iterator[None]:
    """Tests inject faults into the shared station at run time; clear them after each test."""
    yield
    if "sim" not in request.fixturenames:
        return
    clear_injected_faults(request.getfixturevalue("sim"), "bt4560")


def open_meter(sim, **kwargs) -> HiokiBT4560:
    return open_instrument("hioki_bt4560", sim.resources["bt4560"], name="bt4560", timeout_ms=2000, **kwargs)


@pytest.fixture
def meter(sim) -> Iterator[HiokiBT4560]:
    instrument = open_meter(sim)
    yield instrument
    instrument.close()


def commands_seen(sim) -> int:
    return sim.plan.for_instrument("bt4560").commands_seen


def test_configure_applies_the_production_sequence_and_every_setting_reads_back(meter: HiokiBT4560) -> None:
    assert isinstance(meter, ImpedanceMeter) and isinstance(meter, Thermometer)
    assert meter.idn.startswith("HIOKI,BT4560,")
    assert meter.function == "RV"
    assert meter.range_ohm == pytest.approx(30e-3)
    assert (meter.impedance_speed, meter.voltage_speed) == ("MED", "MED")
    assert (meter.delay_mode, meter.delay_waves) == ("WAVE", 0.5)
    assert (meter.beeper, meter.limiter, meter.zero_cross, meter.slope_adjust) == (False, False, True, True)
    assert meter.averaging == 1
    assert (meter.trigger_source, meter.continuous) == ("EXT", True)


def test_configure_impedance_and_frequency_setting(meter: HiokiBT4560) -> None:
    meter.configure_impedance(range_ohm=0.3, speed="SLOW", averaging=4)
    assert (meter.range_ohm, meter.impedance_speed, meter.averaging) == (pytest.approx(0.3), "SLOW", 4)
    meter.frequency_hz = 0.1
    assert meter.frequency_hz == pytest.approx(0.1)
    meter.frequency_hz = 1050
    assert meter.frequency_hz == pytest.approx(1050)


def test_a_spectrum_has_one_point_per_frequency_with_a_capacitive_arc(meter: HiokiBT4560) -> None:
    frequencies_hz = [1000.0, 100.0, 10.0, 1.0, 0.1]
    spectrum = meter.measure_spectrum(frequencies_hz)
    assert [point.frequency_hz for point in spectrum] == frequencies_hz
    assert all(0.005 < point.z_real_ohm < 0.5 for point in spectrum)
    assert all(point.z_imag_ohm < 0 for point in spectrum[1:])  # Im(Z) negative where the cell is capacitive
    assert spectrum[-1].z_real_ohm > spectrum[0].z_real_ohm  # resistance grows towards low frequency
    assert all(2.5 < point.voltage_v < 4.3 for point in spectrum)


def test_voltage_and_temperature(meter: HiokiBT4560) -> None:
    meter.frequency_hz = 0.1
    voltage_v = meter.measure_voltage_v()
    assert 2.5 < voltage_v < 4.3
    assert meter.function == "RV"  # measured in the V function, then restored
    meter.function = "V"
    assert meter.measure_voltage_v() == pytest.approx(voltage_v, abs=0.01)
    assert 15.0 < meter.measure_temperature_c() < 40.0


def test_out_of_range_settings_are_refused_before_anything_is_sent(sim, meter: HiokiBT4560) -> None:
    before = commands_seen(sim)
    with pytest.raises(SettingOutOfRange, match=r"bt4560: frequency_hz 2000 is outside 0.1..1050"):
        meter.frequency_hz = 2000
    with pytest.raises(SettingOutOfRange, match="range_ohm"):
        meter.range_ohm = 0.1
    with pytest.raises(SettingOutOfRange, match="impedance_speed"):
        meter.configure_impedance(range_ohm=0.03, speed="TURBO", averaging=1)
    with pytest.raises(SettingOutOfRange, match="averaging"):
        meter.averaging = 0
    with pytest.raises(SettingOutOfRange, match="frequency 0.01 Hz"):
        meter.measure_spectrum([100.0, 0.01])  # the whole sweep is checked before the first point
    assert commands_seen(sim) == before


def test_a_refusal_by_the_meter_names_the_command(meter: HiokiBT4560) -> None:
    meter.session.write(":FREQ 5000")
    with pytest.raises(InstrumentError, match=r"bt4560: command ':FREQ 5000' failed: -222,\"Data out of range\""):
        meter.session.check_errors(after=":FREQ 5000")


def test_corrupted_replies_are_read_again(sim, meter: HiokiBT4560) -> None:
    faults = sim.plan.for_instrument("bt4560")
    faults.corrupt_every = 3
    spectrum = meter.measure_spectrum([1000.0, 100.0, 10.0, 1.0])
    assert len(spectrum) == 4 and all(point.z_real_ohm > 0 for point in spectrum)


def test_open_lead_and_reversed_cell_are_their_own_errors() -> None:
    with sim_station.SimulatedStation(cells=2, seed=1, chemistry="nmc", speed=200, faults="bt4560:open_lead=1;tray:reversed=2",
                                      bt4560_transport="tcp") as sim:
        meter = open_meter(sim)
        switch = open_instrument("tray_switch", sim.resources["switch"], name="switch")
        try:
            with pytest.raises(LeadOpen, match="bt4560: a measurement lead is open"):
                meter.measure_impedance(1000.0)
            switch.connect_slot(2)
            with pytest.raises(CellReversed, match=r"bt4560: the cell reads -\d.\d+ V: it is connected in reverse"):
                meter.measure_voltage_v()
        finally:
            meter.close()
            switch.close()


def test_a_late_reply_on_a_serial_line_does_not_shift_later_answers() -> None:
    with sim_station.SimulatedStation(cells=1, seed=1, chemistry="nmc", speed=200) as sim:  # BT4560 on a pty
        meter = open_instrument("hioki_bt4560", sim.resources["bt4560"], name="bt4560", timeout_ms=200)
        try:
            faults = sim.plan.for_instrument("bt4560")
            faults.delay_ms = 300  # every reply arrives after the 200 ms timeout, within the drain window
            start = time.monotonic()
            with pytest.raises(ConnectionLost, match="bt4560: no reply .* after 2 attempts"):
                meter.session.query("*IDN?")
            assert time.monotonic() - start < 2.0
            faults.delay_ms = 0
            time.sleep(0.5)  # the late *IDN? reply is now waiting in the port
            meter.frequency_hz = 10.0
            assert meter.frequency_hz == pytest.approx(10.0)
            assert meter.averaging == 1
        finally:
            meter.close()
