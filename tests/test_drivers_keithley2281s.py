"""The Keithley 2281S driver (battery test mode) against the simulated supply."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from drivers.properties import SettingOutOfRange
from drivers.protocols import SourceMeter
from drivers.sim import station as sim_station
from drivers.keithley_2281s import Keithley2281S
from drivers.registry import open_instrument


@pytest.fixture
def sim() -> Iterator:
    with sim_station.SimulatedStation(cells=1, seed=1, chemistry="nmc", speed=1000) as station:
        yield station


@pytest.fixture
def supply(sim) -> Iterator[Keithley2281S]:
    instrument = open_instrument("keithley_2281s", sim.resources["keithley2281s"], name="k2281s", timeout_ms=2000)
    yield instrument
    instrument.output_off()
    instrument.close()


def test_configure_selects_battery_test_mode(supply: Keithley2281S) -> None:
    assert isinstance(supply, SourceMeter)
    assert supply.function == "TEST"
    assert supply.end_current_a == pytest.approx(0.05)
    assert supply.max_current_a == 6.0
    assert supply.output_is_on() is False
    rest = supply.read()
    assert 2.5 < rest.voltage_v < 4.3 and rest.current_a == 0.0 and math.isnan(rest.instrument_time_s)


def test_a_cccv_charge_ends_by_itself_at_the_end_current_and_logs_points(supply: Keithley2281S) -> None:
    ocv_v = supply.read().voltage_v
    supply.sample_interval_s = 5.0
    supply.charge(voltage_v=ocv_v + 0.08, current_limit_a=1.0, end_current_a=0.4)
    assert (supply.full_voltage_v, supply.current_limit_a) == (pytest.approx(ocv_v + 0.08, abs=1e-4), 1.0)
    assert supply.output_is_on()
    assert 0.4 < supply.read().current_a <= 1.0 + 0.02  # limited by the current limit or by the CV phase
    deadline = time.monotonic() + 10.0
    while supply.output_is_on() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not supply.output_is_on(), "the test should stop at the end current"
    log = supply.read_log()
    assert len(log) == supply.logged_points() >= 2
    assert all(b.time_s >= a.time_s for a, b in zip(log, log[1:])) and log[-1].time_s > log[0].time_s
    assert log[-1].capacity_ah > log[0].capacity_ah >= 0
    assert log[-1].current_a < 0.4 + 0.05
    assert max(point.voltage_v for point in log) <= ocv_v + 0.08 + 0.01


def test_discharge_is_refused_before_anything_is_sent_and_zero_current_means_rest(sim, supply: Keithley2281S) -> None:
    before = sim.plan.for_instrument("keithley2281s").commands_seen
    with pytest.raises(SettingOutOfRange, match="only charges.*use a keithley_2400"):
        supply.source_current(-0.5, voltage_limit_v=3.0)
    with pytest.raises(SettingOutOfRange, match="current_limit_a"):
        supply.charge(voltage_v=4.2, current_limit_a=7.0)
    assert sim.plan.for_instrument("keithley2281s").commands_seen == before
    supply.source_current(0.5, voltage_limit_v=4.2)
    assert supply.output_is_on()
    supply.source_current(0.0, voltage_limit_v=4.2)
    assert not supply.output_is_on()
