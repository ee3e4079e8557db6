"""Interrupts with real subprocesses: SIGINT/SIGTERM mid-discharge and SIGKILL mid-run.

The simulated station runs in its own process (`bench sim serve`), so after the
measuring process is gone the test asks the simulated SourceMeter itself, over plain
PyVISA, whether its output is off.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest

from cli_helpers import run_bench
from sim_helpers import served_station, source_output_state, start_measure, wait_for_event

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
    with served_station(tmp_path, cells=3, speed=50) as station:
        yield station


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_discharge_turns_output_off_and_marks_record_aborted(
    tmp_path: Path, sim_station: Path, signum: int, exit_code: int
) -> None:
    profile = tmp_path / "long-discharge.toml"
    profile.write_text(DISCHARGE_PROFILE)
    process = start_measure(tmp_path / "run.h5", sim_station, "--cell", "INT-1", profile=str(profile))
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
        tmp_path / "run.h5", sim_station, "--cell", "K-1", "--cell", "K-2", "--cell", "K-3", profile="quick-grade"
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
