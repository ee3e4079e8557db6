"""The simulated instruments over real transports, driven with plain PyVISA (pyvisa-py) and pyserial."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa
import serial

from drivers.sim.cell import impedance_ohm
from drivers.sim.station import SimulatedStation

BT4560_SETUP = [
    "*RST", "SYSTEM:BEEPER OFF", "FUNCTION RV", "RANGE 300.0E-3", "SAMPLE:RATE V,MED", "SAMPLE:RATE Z,MED",
    "SAMPLE:DELAY:MODE WAVE", "SAMP:DELAY:WAVE 0.5", "LIMITER OFF", "ZERO:CROSS ON", "CALCULATE:AVERAGE 1",
    "ADJUST:SLOPE ON", "TRIGGER:SOURCE EXT", "INITIATE:CONTINUOUS ON",
]


@pytest.fixture()
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


def open_instrument(rm: pyvisa.ResourceManager, resource: str, terminator: str):
    return rm.open_resource(resource, read_termination=terminator, write_termination=terminator, timeout=5000)


def open_station(**kwargs) -> SimulatedStation:
    settings = {"cells": 4, "seed": 3, "chemistry": "nmc", "speed": 1000.0} | kwargs
    return SimulatedStation(**settings)


def parse_rxv(reply: str) -> tuple[float, float, float]:
    r, x, v = (float(part) for part in reply.split(","))
    return r, x, v


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_bt4560_production_sequence_and_sweep_match_the_connected_cell(rm, transport: str) -> None:
    with open_station(bt4560_transport=transport) as station:
        resource = station.resources["bt4560"]
        assert resource.startswith("ASRL/dev/" if transport == "pty" else "TCPIP0::127.0.0.1::")
        meter = open_instrument(rm, resource, "\r\n")
        assert meter.query("*IDN?").startswith("HIOKI,BT4560,")
        for command in BT4560_SETUP:
            meter.write(command)
        assert meter.query(":SYST:ERR?") == '0,"No error"'
        cell = station.tray.cells[0]
        for frequency_hz in (1000.0, 100.0, 10.0, 1.0):
            meter.write(f"FREQ {frequency_hz}")
            r_ohm, x_ohm, voltage_v = parse_rxv(meter.query("*TRG;*WAI;FETCH?"))
            z_true = impedance_ohm(cell.params, frequency_hz, soc=cell.state.soc, temperature_c=cell.state.temperature_c)
            assert r_ohm == pytest.approx(z_true.real, rel=0.02, abs=5e-5)
            assert x_ohm == pytest.approx(z_true.imag, rel=0.05, abs=5e-4)
            assert 3.3 < voltage_v < 4.0
        assert float(meter.query(":FREQ?")) == pytest.approx(1.0)
        assert meter.query(":SAMP:RATE? Z") == "MED"
        assert meter.query(":function?") == "RV"
        meter.write(":FUNC V")
        assert 3.3 < float(meter.query(":READ?")) < 4.0
        assert 20.0 < float(meter.query(":MEASure:TEMPerature?")) < 30.0
        meter.close()


def test_bt4560_reply_format_and_settings_queries(rm) -> None:
    with open_station() as station:
        meter = open_instrument(rm, station.resources["bt4560"], "\r\n")
        meter.write(":RANG 30E-3;:CALC:AVER 4;:FREQ 1E3")
        reply = meter.query(":READ?")
        parts = reply.split(",")
        assert len(parts) == 3 and all(p[0] in "+-" and "E" in p for p in parts), reply
        assert parts[0].endswith("E-3") and parts[2].endswith("E+0")
        assert float(meter.query(":RANG?")) == pytest.approx(30e-3)
        assert meter.query(":CALC:AVER?") == "4"
        for bad in (":FREQ 2000", ":FREQ 0.01", ":RANG 1", ":CALC:AVER 300"):
            meter.write(bad)
            assert meter.query(":SYST:ERR?") == '-222,"Data out of range"', bad
        meter.write(":FREQ")
        assert meter.query(":SYST:ERR?") == '-109,"Missing parameter"'
        meter.close()


def test_bt4560_trigger_takes_simulated_time(rm) -> None:
    with open_station(speed=10.0) as station:
        meter = open_instrument(rm, station.resources["bt4560"], "\r\n")
        meter.write(":SAMP:RATE Z,FAST;:SAMP:RATE V,FAST;:FREQ 1")
        start = time.monotonic()
        meter.query("*TRG;*WAI;FETCH?")
        elapsed_s = time.monotonic() - start
        # two periods of 1 Hz plus the wave delay and sampling: ~2.5 s simulated, 0.25 s at speed 10
        assert 0.2 < elapsed_s < 2.0
        meter.close()


def test_pyserial_on_the_pty_with_either_terminator() -> None:
    with open_station() as station:
        device = station.resources["bt4560"].removeprefix("ASRL").removesuffix("::INSTR")
        with serial.Serial(device, baudrate=9600, timeout=5) as port:
            port.write(b"*IDN?\r\n")
            reply = port.read_until(b"\r\n")
            assert reply.startswith(b"HIOKI,BT4560,") and reply.endswith(b"\r\n")
            port.write(b":FUNC V\n:FUNC?\n")  # LF alone is accepted on input
            assert port.read_until(b"\r\n") == b"V\r\n"
        with serial.Serial(device, baudrate=9600, timeout=5) as port:  # the port can be reopened
            port.write(b"*OPC?\r\n")
            assert port.read_until(b"\r\n") == b"1\r\n"


def test_keithley_discharge_clock_compliance_and_state_across_reconnects(rm) -> None:
    with open_station(speed=200.0) as station:
        resource = station.resources["keithley2400"]
        smu = open_instrument(rm, resource, "\n")
        assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2400,")
        v, i, r, t, status = (float(x) for x in smu.query(":READ?").split(","))
        assert 3.3 < v < 4.0 and i == 0.0 and r > 1e37 and t >= 0.0
        cell = station.tray.cells[0]
        soc_before = cell.state.soc
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -1.0;:SENS:VOLT:PROT 4.2;:FORM:ELEM VOLT,CURR,TIME;:OUTP ON")
        assert smu.query(":SOUR:FUNC?;:OUTP?") == "CURR;1"
        assert float(smu.query(":SOUR:CURR?")) == pytest.approx(-1.0)
        first = [float(x) for x in smu.query(":READ?").split(",")]
        time.sleep(0.5)
        smu.close()
        smu = open_instrument(rm, resource, "\n")  # a new client finds the output still on
        assert smu.query(":OUTP?") == "1"
        second = [float(x) for x in smu.query(":READ?").split(",")]
        assert second[1] == pytest.approx(-1.0, rel=1e-2)
        assert second[0] < first[0]  # discharging: the voltage falls
        assert 95.0 < second[2] - first[2] < 400.0  # TIME is simulated seconds: 0.5 s real at speed 200, plus overheads
        assert cell.state.soc < soc_before - 0.005
        smu.write("*RST")
        assert smu.query(":OUTP?") == "0"
        assert smu.query(":FORM:ELEM?") == "VOLT,CURR,RES,TIME,STAT"
        smu.write(":SOUR:CURR 2")
        assert smu.query(":SYST:ERR?") == '-222,"Data out of range"'
        smu.write(":FORM:ELEM CURR,VOLT")
        rest_v = float(smu.query(":READ?").split(",")[1])
        limit_v = round(rest_v + 0.03, 3)  # 1 A through ~50 mOhm would need more than this
        smu.write(f":SOUR:FUNC CURR;:SOUR:CURR 1.0;:SENS:VOLT:PROT {limit_v};:OUTP ON")
        time.sleep(0.2)
        current_a, voltage_v = (float(x) for x in smu.query(":READ?").split(","))
        assert voltage_v == pytest.approx(limit_v, abs=2e-3)  # clamped into CV at the compliance voltage
        assert 0.0 < current_a < 0.9
        smu.write(":OUTP OFF")
        assert smu.query(":OUTP?") == "0"
        smu.close()


def test_keithley_on_a_pty(rm) -> None:
    with open_station(keithley2400_transport="pty") as station:
        resource = station.resources["keithley2400"]
        assert resource.startswith("ASRL")
        smu = open_instrument(rm, resource, "\n")
        assert "MODEL 2400" in smu.query("*IDN?")
        smu.write(":SYST:RSEN ON")
        assert smu.query(":SYST:RSEN?") == "1"
        smu.close()


def test_switch_routes_the_cells_and_refuses_to_move_under_current(rm) -> None:
    with open_station() as station:
        switch = open_instrument(rm, station.resources["switch"], "\n")
        meter = open_instrument(rm, station.resources["bt4560"], "\r\n")
        smu = open_instrument(rm, station.resources["keithley2400"], "\n")
        assert switch.query("*IDN?").startswith("BENCH,TRAYSWITCH-4,")
        assert switch.query(":ROUT:SLOT?") == "4"
        assert switch.query(":ROUT:CLOS?") == "1"  # slot 1 is connected at start-up
        meter.write(":FREQ 1000")
        readings = {}
        for slot in (1, 2, 3, 4):
            switch.write(f":ROUT:CLOS (@{slot})")
            assert switch.query(":ROUTe:CLOSe?") == str(slot)
            readings[slot] = parse_rxv(meter.query(":READ?"))[0]
        true_r = {c.slot: impedance_ohm(c.params, 1000.0, soc=c.state.soc, temperature_c=c.state.temperature_c).real
                  for c in station.tray.cells}
        assert sorted(readings, key=readings.get) == sorted(true_r, key=true_r.get)
        switch.write(":ROUT:CLOS (@5)")
        assert switch.query(":SYST:ERR?") == '-222,"Data out of range"'
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR 0.1;:OUTP ON")
        assert smu.query("*OPC?") == "1"
        switch.write(":ROUT:CLOS (@2)")
        assert switch.query(":SYST:ERR?") == '-221,"Settings conflict"'
        assert switch.query(":ROUT:CLOS?") == "4"
        smu.write(":OUTP OFF")
        assert smu.query("*OPC?") == "1"
        switch.write(":ROUT:OPEN:ALL")
        assert switch.query(":ROUT:CLOS?") == "0"
        assert parse_rxv(meter.query(":READ?"))[2] > 1e8  # nothing connected: the meter sees open leads
        for instrument in (switch, meter, smu):
            instrument.close()


def test_keithley_2281s_battery_test_charges_to_the_end_current(rm) -> None:
    with open_station(speed=2000.0) as station:
        supply = open_instrument(rm, station.resources["keithley2281s"], "\n")
        assert supply.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,MODEL 2281S-20-6,")
        supply.write(":ENTR:FUNC TEST;:BATT:TEST:VOLT 3.85;:BATT:TEST:CURR:LIM 1.0;:BATT:TEST:CURR:END 0.2")
        supply.write(":BATT:TEST:SAMP:INT 10")
        supply.write(":BATT:OUTP ON")
        assert supply.query(":SYST:ERR?") == '0,"No error"'
        deadline = time.monotonic() + 20
        while supply.query(":OUTP?") == "1" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert supply.query(":OUTP?") == "0", "the battery test should stop at the end current"
        data = np.array([float(x) for x in supply.query(":BATT:DATA:DATA?").split(",")]).reshape(-1, 5)
        voltage_v, current_a, _, capacity_ah, time_s = data.T
        assert len(data) > 5
        assert voltage_v.max() == pytest.approx(3.85, abs=0.01)
        assert current_a[-1] < 0.2 + 1e-6 and current_a.max() == pytest.approx(1.0, rel=1e-3)
        assert np.all(np.diff(time_s) > 0) and np.all(np.diff(capacity_ah) >= 0)
        assert capacity_ah[-1] > 0.05
        supply.close()


def test_keithley_2460_variant_and_an_lfp_tray(rm) -> None:
    with open_station(chemistry="lfp", keithley2400_model="2460") as station:
        smu = open_instrument(rm, station.resources["keithley2400"], "\n")
        assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,MODEL 2460,")
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -5.0;:SOUR:CURR?")
        assert float(smu.read()) == pytest.approx(-5.0)
        smu.write(":SOUR:CURR 8")
        assert smu.query(":SYST:ERR?") == '-222,"Data out of range"'
        smu.write(":FORM:ELEM VOLT")
        open_circuit_v = float(smu.query(":READ?"))
        assert 3.1 < open_circuit_v < 3.4  # on the LFP plateau
        assert open_circuit_v == pytest.approx(station.tray.terminal_voltage_v(), abs=1e-3)
        smu.close()


def test_a_discharge_through_the_source_meter_delivers_the_charge_the_cell_held(rm) -> None:
    with open_station(speed=5000.0) as station:
        cell = station.tray.cells[0]
        soc_start = cell.state.soc
        smu = open_instrument(rm, station.resources["keithley2400"], "\n")
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -0.5;:SENS:VOLT:PROT 5;:FORM:ELEM VOLT,CURR,TIME;:OUTP ON")
        delivered_ah, last = 0.0, None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            voltage_v, current_a, time_s = (float(x) for x in smu.query(":READ?").split(","))
            if last is not None:
                delivered_ah += -(current_a + last[1]) / 2 * (time_s - last[2]) / 3600
            last = (voltage_v, current_a, time_s)
            if voltage_v < 2.5:
                break
        soc_at_cutoff = cell.state.soc  # the tray advances lazily: this is its state at the last reading
        smu.write(":OUTP OFF")
        assert smu.query(":OUTP?") == "0"
        assert last is not None and last[0] < 2.5, "the cell should reach the cut-off within the test"
        # what the instrument's readings integrate to is the charge the model lost ...
        assert delivered_ah == pytest.approx((soc_start - soc_at_cutoff) * cell.capacity_ah, rel=0.01)
        # ... and at the 2.5 V cut-off the cell is about empty (a slow poll overshoots a little, never under-runs)
        assert -0.1 < soc_at_cutoff < 0.05
        smu.close()


def test_instruments_serve_clients_at_the_same_time(rm) -> None:
    """A sweep on the meter and readings on the SourceMeter from two threads: no lost replies, no errors."""
    import threading

    with open_station(speed=500.0) as station:
        meter = open_instrument(rm, station.resources["bt4560"], "\r\n")
        smu = open_instrument(rm, station.resources["keithley2400"], "\n")
        smu.write(":SOUR:FUNC CURR;:SOUR:CURR -0.2;:SENS:VOLT:PROT 4.2;:FORM:ELEM VOLT,CURR;:OUTP ON")
        readings: list[float] = []
        failures: list[BaseException] = []

        def poll_source() -> None:
            try:
                for _ in range(60):
                    readings.append(float(smu.query(":READ?").split(",")[1]))
            except BaseException as exc:  # surfaced by the assertion below
                failures.append(exc)

        poller = threading.Thread(target=poll_source)
        poller.start()
        spectrum = []
        for frequency_hz in np.logspace(3, 0, 12):
            meter.write(f":FREQ {frequency_hz:.4g}")
            spectrum.append(parse_rxv(meter.query("*TRG;*WAI;:FETC?")))
        poller.join(timeout=30)
        assert not failures and len(readings) == 60
        assert all(r == pytest.approx(-0.2, rel=0.01) for r in readings)
        assert all(3.0 < v < 4.2 and 0.02 < r < 0.2 for r, _, v in spectrum)
        smu.write(":OUTP OFF")
        assert smu.query(":SYST:ERR?") == '0,"No error"' and meter.query(":SYST:ERR?") == '0,"No error"'
        meter.close()
        smu.close()
