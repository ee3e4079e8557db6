"""Start `bench sim serve` as its own process and talk to its instruments with plain PyVISA.

Tests that kill or interrupt the measuring process need the simulated station to
outlive it, so that they can then ask the simulated instruments themselves (not the
project's drivers) what state they were left in.
"""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import signal

import pyvisa

from cli_helpers import bench_executable


@contextmanager
def served_station_process(
    tmp_path: Path, *, cells: int, speed: float, seed: int = 0, faults: str | None = None
) -> Iterator[tuple[Path, subprocess.Popen]]:
    """Run `bench sim serve` until the block ends; yield its station file and its process."""
    station = tmp_path / "station.toml"
    args = [bench_executable(), "sim", "serve", "--cells", str(cells), "--seed", str(seed), "--speed", str(speed),
            "--station-out", str(station)]
    if faults:
        args += ["--faults", faults]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not station.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        if not station.exists():
            raise AssertionError(f"bench sim serve wrote no station file: {server.stderr.read() if server.poll() is not None else ''}")
        yield station, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def served_station(tmp_path: Path, *, cells: int, speed: float, seed: int = 0, faults: str | None = None) -> Iterator[Path]:
    """Run `bench sim serve` until the block ends; yield the station file it wrote."""
    with served_station_process(tmp_path, cells=cells, speed=speed, seed=seed, faults=faults) as (station, _server):
        yield station


def source_output_state(station: Path) -> str:
    """Ask the simulated Keithley directly, with plain PyVISA, whether its output is on ("0" or "1")."""
    config = tomllib.loads(station.read_text())
    resource = config["instruments"]["keithley2400"]["resource"]
    manager = pyvisa.ResourceManager("@py")
    instrument = manager.open_resource(resource, read_termination="\n", write_termination="\n", timeout=5000)
    try:
        return instrument.query(":OUTP?").strip()
    finally:
        instrument.close()
        manager.close()


def start_measure(out: Path, station: Path, *cell_args: str, profile: str) -> subprocess.Popen:
    """`bench measure --jsonl` in the background, so that a test can follow its events and signal it."""
    return subprocess.Popen(
        [bench_executable(), "measure", "--station", str(station), *cell_args, "--profile", profile, "--out", str(out), "--jsonl"],
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


def clear_injected_faults(station, instrument_name: str) -> None:
    """Undo faults a test injected at run time into a shared `SimulatedStation`, so the next test starts clean."""
    faults = station.plan.for_instrument(instrument_name)
    with faults.lock:
        faults.delay_ms, faults.no_reply_after, faults.drop_after = 0.0, None, None
        faults.corrupt_every, faults.error_after, faults.dropped, faults.error_pushed = None, None, False, False
