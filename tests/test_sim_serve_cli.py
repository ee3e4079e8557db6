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
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1 and "explode" in error_lines[0]


def test_serve_help_has_examples() -> None:
    result = run_bench("sim", "serve", "--help", check=True)
    assert "Examples:" in result.stdout and "--station-out" in result.stdout
