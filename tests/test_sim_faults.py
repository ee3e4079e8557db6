"""Fault injection: the spec parser, and each fault as a client on a real transport meets it."""

from __future__ import annotations

import socket
import time

import pytest
import pyvisa

from drivers.sim.faults import parse_faults
from drivers.sim.station import SimulatedStation


def test_spec_parses_per_instrument_and_cell_faults() -> None:
    plan = parse_faults("keithley2400:drop_after=40;bt4560:delay_ms=300,corrupt_every=7;tray:reversed=2,over_temp=3")
    assert plan.instruments["keithley2400"].drop_after == 40
    assert plan.instruments["bt4560"].delay_ms == 300.0
    assert plan.instruments["bt4560"].corrupt_every == 7
    assert plan.reversed_slots == {2} and plan.over_temp_slots == {3}
    assert parse_faults(None).instruments == {} and parse_faults("  ").reversed_slots == set()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hp3458:delay_ms=3", "instrument name"),
        ("bt4560 delay_ms=3", "instrument name"),
        ("bt4560:explode=1", "kind one of"),
        ("bt4560:delay_ms", "kind one of"),
        ("bt4560:drop_after=x", "needs a number"),
        ("bt4560:corrupt_every=0", ">= 1"),
        ("bt4560:delay_ms=-5", ">= 0"),
    ],
)
def test_bad_spec_is_one_clear_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        parse_faults(spec)
    assert "\n" not in str(excinfo.value)
    assert spec.split(";")[0].strip()[:6] in str(excinfo.value)


def tcp_address(resource: str) -> tuple[str, int]:
    _, host, port, _ = resource.split("::")
    return host, int(port)


def ask(connection: socket.socket, line: str) -> bytes:
    connection.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def test_drop_after_closes_the_connection_at_that_command_and_a_new_client_gets_in() -> None:
    with SimulatedStation(2, 0, "nmc", 100.0, faults="keithley2400:drop_after=3") as station:
        address = tcp_address(station.resources["keithley2400"])
        with socket.create_connection(address, timeout=5) as connection:
            assert ask(connection, "*OPC?") == b"1\n"
            assert ask(connection, "*OPC?") == b"1\n"
            assert ask(connection, "*OPC?") == b""  # the third command: connection closed
        with socket.create_connection(address, timeout=5) as connection:
            assert ask(connection, "*IDN?").startswith(b"KEITHLEY")


def test_no_reply_after_makes_the_instrument_go_silent() -> None:
    with SimulatedStation(2, 0, "nmc", 100.0, faults="switch:no_reply_after=2") as station:
        manager = pyvisa.ResourceManager("@py")
        switch = manager.open_resource(station.resources["switch"], read_termination="\n", write_termination="\n",
                                       timeout=300)
        assert switch.query("*OPC?") == "1"
        with pytest.raises(pyvisa.errors.VisaIOError):
            switch.query("*OPC?")
        switch.close()
        manager.close()


def test_delay_corrupt_and_error_after_on_the_serial_meter() -> None:
    faults = "bt4560:delay_ms=150,corrupt_every=3,error_after=2"
    with SimulatedStation(2, 0, "nmc", 1000.0, faults=faults) as station:
        manager = pyvisa.ResourceManager("@py")
        meter = manager.open_resource(station.resources["bt4560"], read_termination="\r\n", write_termination="\r\n",
                                      timeout=5000)
        start = time.monotonic()
        first = meter.query("*IDN?")                # command 1, reply 1
        assert time.monotonic() - start >= 0.14      # every reply is late
        assert first.startswith("HIOKI,BT4560,")
        second = meter.query(":SYST:ERR?")           # command 2 pushes -310 first; reply 2
        assert second == '-310,"System error"'
        third = meter.query("*IDN?")                 # reply 3 is garbled
        assert third != first and "#" in third
        assert meter.query("*IDN?") == first
        meter.close()
        manager.close()


def test_open_lead_reversed_and_over_temperature_cells() -> None:
    faults = "bt4560:open_lead=2;tray:reversed=3,over_temp=1"
    with SimulatedStation(3, 0, "nmc", 1000.0, faults=faults) as station:
        manager = pyvisa.ResourceManager("@py")
        meter = manager.open_resource(station.resources["bt4560"], read_termination="\r\n", write_termination="\r\n",
                                      timeout=5000)
        switch = manager.open_resource(station.resources["switch"], read_termination="\n", write_termination="\n",
                                       timeout=5000)
        smu = manager.open_resource(station.resources["keithley2400"], read_termination="\n", write_termination="\n",
                                    timeout=5000)
        volts = {}
        for slot in (1, 2, 3):
            switch.write(f":ROUT:CLOS (@{slot})")
            assert switch.query(":ROUT:CLOS?") == str(slot)
            volts[slot] = float(meter.query(":READ?").split(",")[2])
        assert 3.0 < volts[1] < 4.2
        assert volts[2] > 1e8      # open lead
        assert volts[3] < -3.0     # reversed cell
        switch.write(":ROUT:CLOS (@1)")
        assert switch.query(":ROUT:CLOS?") == "1"
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -0.5;:SENS:VOLT:PROT 4.2;:OUTP ON")
        time.sleep(1.0)            # ~1000 simulated seconds
        assert float(meter.query(":MEAS:TEMP?")) > 60.0
        smu.write(":OUTP OFF")
        for instrument in (meter, switch, smu):
            instrument.close()
        manager.close()


def test_fault_slot_outside_the_tray_is_refused() -> None:
    with pytest.raises(ValueError, match="slot 9"):
        SimulatedStation(3, 0, "nmc", 1.0, faults="tray:reversed=9")


def test_open_lead_on_the_source_meter_runs_into_compliance() -> None:
    with SimulatedStation(2, 0, "nmc", 100.0, faults="keithley2400:open_lead=2") as station:
        manager = pyvisa.ResourceManager("@py")
        smu = manager.open_resource(station.resources["keithley2400"], read_termination="\n", write_termination="\n",
                                    timeout=5000)
        switch = manager.open_resource(station.resources["switch"], read_termination="\n", write_termination="\n",
                                       timeout=5000)
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -0.5;:SENS:VOLT:PROT 4.5;:FORM:ELEM VOLT,CURR,STAT;:OUTP ON")
        voltage_v, current_a, status = (float(x) for x in smu.query(":READ?").split(","))
        assert 3.0 < voltage_v < 4.2 and current_a == pytest.approx(-0.5, rel=0.01)  # slot 1 is fine
        assert not int(status) & 8
        smu.write(":OUTP OFF")
        assert smu.query("*OPC?") == "1"
        switch.write(":ROUT:CLOS (@2)")
        assert switch.query(":ROUT:CLOS?") == "2"
        smu.write(":OUTP ON")
        voltage_v, current_a, status = (float(x) for x in smu.query(":READ?").split(","))
        assert abs(voltage_v) == pytest.approx(4.5, abs=1e-2) and current_a == 0.0
        assert int(status) & 8  # the compliance bit
        smu.write(":OUTP OFF")
        smu.close()
        switch.close()
        manager.close()
