"""`bench sim serve` as a user runs it, and the station file it writes."""

from __future__ import annotations

import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import pyvisa

from cli_helpers import bench_executable, run_bench
from drivers.sim.station import SimulatedStation

NAMES = ("bt4560", "keithley2400", "keithley2281s", "switch")


def test_station_file_has_the_documented_shape(tmp_path: Path) -> None:
    with SimulatedStation(2, 0, "lfp", 250.0) as station:
        path = station.write_station_file(tmp_path / "sub" / "station.toml")
        config = tomllib.loads(path.read_text())
        assert config["station"] == {"name": "sim-station", "speed": 250.0}
        assert config["roles"] == {"impedance_meter": "bt4560", "source_meter": "keithley2400",
                                   "switch": "switch", "thermometer": "bt4560"}
        assert set(config["instruments"]) == set(NAMES)
        bt = config["instruments"]["bt4560"]
        assert bt["driver"] == "hioki_bt4560" and bt["resource"].startswith("ASRL/dev/") and bt["baud_rate"] == 9600
        assert bt["resource"] == station.resources["bt4560"] and bt["timeout_ms"] == 5000
        for name, driver in (("keithley2400", "keithley_2400"), ("keithley2281s", "keithley_2281s"),
                             ("switch", "tray_switch")):
            entry = config["instruments"][name]
            assert entry["driver"] == driver and "baud_rate" not in entry
            assert entry["resource"].startswith("TCPIP0::127.0.0.1::") and entry["resource"].endswith("::SOCKET")
        assert [p.name for p in path.parent.iterdir()] == ["station.toml"]  # no temp file left behind


def test_servers_close_on_exit() -> None:
    with SimulatedStation(1, 0, "nmc", 1.0) as station:
        _, host, port, _ = station.resources["switch"].split("::")
    import socket

    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_resources_writes_station_file_and_exits_cleanly(tmp_path: Path, signum: int) -> None:
    station = tmp_path / "station.toml"
    server = subprocess.Popen(
        [bench_executable(), "sim", "serve", "--cells", "3", "--seed", "2", "--speed", "100",
         "--bt4560-transport", "tcp", "--station-out", str(station)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [server.stdout.readline().strip() for _ in NAMES]
        resources = dict(line.split(" ", 1) for line in lines)
        assert set(resources) == set(NAMES)
        deadline = time.monotonic() + 20
        while not station.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        config = tomllib.loads(station.read_text())
        assert {name: entry["resource"] for name, entry in config["instruments"].items()} == resources
        assert resources["bt4560"].startswith("TCPIP0::")
        manager = pyvisa.ResourceManager("@py")
        switch = manager.open_resource(resources["switch"], read_termination="\n", write_termination="\n", timeout=5000)
        assert switch.query("*IDN?").startswith("BENCH,TRAYSWITCH-3,")
        switch.close()
        manager.close()
    finally:
        server.send_signal(signum)
        server.wait(timeout=20)
    assert server.returncode == 0, server.stderr.read()


def test_bad_faults_is_one_line_and_exit_2() -> None:
    result = run_bench("sim", "serve", "--faults", "bt4560:explode=1", timeout_s=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "explode" in lines[0], result.stderr


def test_serve_help_has_examples() -> None:
    result = run_bench("sim", "serve", "--help", check=True)
    assert "Examples:" in result.stdout and "--station-out" in result.stdout


def test_serve_spreads_ambient_and_soc_and_the_bt4560_reports_them(tmp_path: Path) -> None:
    from drivers.sim.cell import ocv_v
    from drivers.sim.tray import make_tray

    station = tmp_path / "station.toml"
    server = subprocess.Popen(
        [bench_executable(), "sim", "serve", "--cells", "4", "--seed", "5", "--speed", "50",
         "--ambient-c", "-10:45", "--soc", "0.1:0.9", "--station-out", str(station)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    truth = make_tray(4, 5, ambient_c_range=(-10.0, 45.0), soc_range=(0.1, 0.9)).cells
    try:
        deadline = time.monotonic() + 20
        while not station.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        config = tomllib.loads(station.read_text())
        manager = pyvisa.ResourceManager("@py")
        bt = config["instruments"]["bt4560"]
        meter = manager.open_resource(bt["resource"], baud_rate=bt["baud_rate"], read_termination="\r\n",
                                      write_termination="\r\n", timeout=5000)
        switch = manager.open_resource(config["instruments"]["switch"]["resource"], read_termination="\n",
                                       write_termination="\n", timeout=5000)
        meter.write(":FUNC V")
        for cell in truth:
            switch.write(f":ROUT:CLOS (@{cell.slot})")
            assert switch.query(":ROUT:CLOS?") == str(cell.slot)  # the relay has moved before the meter reads
            temperature_c = float(meter.query(":MEAS:TEMP?"))
            assert -10.0 <= temperature_c <= 45.0
            assert temperature_c == pytest.approx(cell.state.ambient_c, abs=0.3)
            assert float(meter.query(":READ?")) == pytest.approx(float(ocv_v(cell.chemistry, cell.state.soc)), abs=2e-3)
        assert meter.query(":SYST:ERR?") == '0,"No error"'
        temps = sorted(c.state.ambient_c for c in truth)
        assert temps[-1] - temps[0] > 20.0  # the four cells do spread over the range
        meter.close()
        switch.close()
        manager.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.returncode == 0, server.stderr.read()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--ambient-c", "45:-10"), "low end is above the high end"),
        (("--ambient-c=-40:10",), "-30..60 C"),
        (("--ambient-c", "cold"), "LO:HI"),
        (("--soc", "0.2:1.5"), "0..1"),
        (("--soc", "0.1:0.5:0.9"), "LO:HI"),
    ],
)
def test_bad_ranges_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    station = tmp_path / "station.toml"
    result = run_bench("sim", "serve", *args, "--station-out", str(station), timeout_s=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
    assert not station.exists()


def test_serve_help_shows_the_range_options_with_an_example() -> None:
    result = run_bench("sim", "serve", "--help", check=True)
    assert "--ambient-c LO:HI" in result.stdout and "--soc LO:HI" in result.stdout
    assert "--ambient-c -10:45 --soc 0.1:0.9" in result.stdout
