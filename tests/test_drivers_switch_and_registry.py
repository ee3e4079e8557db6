"""The tray switch driver against the simulated switch, and opening instruments by driver name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.protocols import InstrumentError, Switch
from drivers.registry import UnknownDriver, driver_class, known_drivers, open_instrument
from drivers.transport import ResourceUnavailable

from drivers.sim import station as sim_station


@pytest.fixture
def sim() -> Iterator:
    with sim_station.SimulatedStation(cells=3, seed=4, chemistry="lfp", speed=200) as station:
        yield station


def test_switch_connects_reports_and_opens_slots(sim) -> None:
    switch = open_instrument("tray_switch", sim.resources["switch"], name="switch")
    try:
        assert isinstance(switch, Switch)
        assert switch.idn.startswith("BENCH,TRAYSWITCH-3,")
        assert switch.slot_count == 3
        assert switch.connected_slot() == 1  # the simulated tray starts with slot 1 connected
        switch.connect_slot(3)
        assert switch.connected_slot() == 3
        switch.disconnect_all()
        assert switch.connected_slot() is None
        with pytest.raises(InstrumentError, match=r"switch: slot 4 does not exist; the tray has slots 1..3"):
            switch.connect_slot(4)
    finally:
        switch.close()


def test_switch_refuses_to_move_under_load_and_says_what_to_do(sim) -> None:
    switch = open_instrument("tray_switch", sim.resources["switch"], name="switch")
    smu = open_instrument("keithley_2400", sim.resources["keithley2400"], name="keithley2400")
    try:
        smu.source_current(-0.2, voltage_limit_v=3.7)
        with pytest.raises(InstrumentError) as caught:
            switch.connect_slot(2)
        message = str(caught.value)
        assert "-221" in message and "turn it off before changing slots" in message and "(@2)" in message
        assert switch.connected_slot() == 1
        smu.output_off()
        switch.connect_slot(2)
        assert switch.connected_slot() == 2
    finally:
        smu.output_off()
        smu.close()
        switch.close()


def test_the_2281s_opens_through_the_registry(sim) -> None:
    supply = open_instrument("keithley_2281s", sim.resources["keithley2281s"], name="keithley2281s", configure=False)
    try:
        assert "2281S" in supply.idn
        assert supply.errors() == []
    finally:
        supply.close()


def test_unknown_driver_lists_the_known_ones() -> None:
    assert known_drivers() == ("hioki_bt4560", "keithley_2281s", "keithley_2400", "tray_switch")
    with pytest.raises(UnknownDriver) as caught:
        driver_class("keithley_2450")
    assert str(caught.value) == (
        "unknown driver 'keithley_2450': known drivers are hioki_bt4560, keithley_2281s, keithley_2400, tray_switch")
    with pytest.raises(ValueError):
        open_instrument("nope", "TCPIP0::127.0.0.1::1::SOCKET", name="x")


def test_unknown_transport_settings_and_unreachable_resources_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown transport settings"):
        open_instrument("tray_switch", "TCPIP0::127.0.0.1::1::SOCKET", name="switch", baudrate=9600)
    with pytest.raises(ResourceUnavailable, match=r"^switch: cannot open resource 'TCPIP0::127.0.0.1::1::SOCKET'"):
        open_instrument("tray_switch", "TCPIP0::127.0.0.1::1::SOCKET", name="switch", timeout_ms=300)
