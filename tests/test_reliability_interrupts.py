"""Interrupts with real subprocesses: SIGINT/SIGTERM mid-discharge and SIGKILL mid-run.

The simulated station runs in its own process (`bench sim serve`), so after the
measuring process is gone the test asks the simulated SourceMeter itself, over plain
PyVISA, whether its output is off.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest
import pyvisa

from cli_helpers import bench_executable, run_bench

DISCHARGE_PROFILE = """\
name = "long-discharge"
description = "One long C/3 discharge, for interrupt tests."
cell_type = "nmc-18650-2.5ah"

[[steps]]
kind = "cc_discharge"
current_a = 0.8
cutoff_voltage_v = 2.8
max_duration_s = 20000
sample_interval_s = 5
"""


@pytest.fixture()
def sim_station(tmp_path: Path) -> Iterator[Path]:
    station = tmp_path / "station.toml"
    server = subprocess.Popen(
        [bench_executable(), "sim", "serve", "--cells", "3", "--speed", "50", "--station-out", str(station)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not station.exists() and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.05)
    assert station.exists(), f"bench sim serve wrote no station file: {server.stderr.read() if server.poll() is not None else ''}"
    time.sleep(0.2)  # the file is written after the servers listen; give the writer time to close it
    yield station
    server.send_signal(signal.SIGINT)
    server.wait(timeout=20)


def source_output_state(station: Path) -> str:
    """Ask the simulated Keithley directly, with plain PyVISA, whether its output is on."""
    import tomllib

    config = tomllib.loads(station.read_text())
    resource = config["instruments"]["keithley2400"]["resource"]
    manager = pyvisa.ResourceManager("@py")
    instrument = manager.open_resource(resource, read_termination="\n", write_termination="\n", timeout=5000)
    try:
        return instrument.query(":OUTP?").strip()
    finally:
        instrument.close()
        manager.close()


def start_measure(tmp_path: Path, station: Path, *cell_args: str, profile: str) -> subprocess.Popen:
    return subprocess.Popen(
        [bench_executable(), "measure", "--station", str(station), *cell_args, "--profile", profile,
         "--out", str(tmp_path / "run.h5"), "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_event(process: subprocess.Popen, predicate, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"measure ended early: {process.stderr.read()}")
        event = json.loads(line)
        if predicate(event):
            return event
    raise AssertionError("event not seen in time")


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_discharge_turns_output_off_and_marks_record_aborted(
    tmp_path: Path, sim_station: Path, signum: int, exit_code: int
) -> None:
    profile = tmp_path / "long-discharge.toml"
    profile.write_text(DISCHARGE_PROFILE)
    process = start_measure(tmp_path, sim_station, "--cell", "INT-1", profile=str(profile))
    wait_for_event(process, lambda e: e["event"] == "step_started" and e["kind"] == "cc_discharge")
    time.sleep(0.5)
    assert source_output_state(sim_station) == "1", "the discharge should be running when the signal arrives"
    process.send_signal(signum)
    process.wait(timeout=30)
    assert process.returncode == exit_code, process.stderr.read()
    assert source_output_state(sim_station) == "0"
    with h5py.File(tmp_path / "run.h5", "r"):
        pass
    shown = run_bench("show", str(tmp_path / "run.h5"), check=True).stdout
    assert "aborted" in shown and "INT-1" in shown


def test_sigkill_during_third_cell_keeps_the_first_two_records(tmp_path: Path, sim_station: Path) -> None:
    process = start_measure(
        tmp_path, sim_station, "--cell", "K-1", "--cell", "K-2", "--cell", "K-3", profile="quick-grade"
    )
    wait_for_event(process, lambda e: e["event"] == "cell_started" and e["cell_id"] == "K-3")
    wait_for_event(process, lambda e: e["event"] == "step_started" and e["kind"] == "eis")
    process.kill()
    process.wait(timeout=10)
    shown = run_bench("show", str(tmp_path / "run.h5"), check=True).stdout
    lines = {cell: next(line for line in shown.splitlines() if cell in line) for cell in ("K-1", "K-2", "K-3")}
    assert "complete" in lines["K-1"] and "complete" in lines["K-2"]
    assert "incomplete" in lines["K-3"]
    evaluated = json.loads(run_bench("evaluate", str(tmp_path / "run.h5"), "--json", "-", "--quiet", check=True).stdout)
    grades = {row["cell_id"]: row["grade"] for row in evaluated}
    assert grades["K-3"] == "retest"
    assert grades["K-1"] != "retest" and grades["K-2"] != "retest"
