"""Faults injected into the simulated instruments, seen through the real CLI.

Each test runs `bench sim serve --faults ...` in its own process, `bench measure` against
its station file, and then checks the documented outcome (docs/reliability.md): which
records are complete, failed or aborted and why, the exit code, one line on stderr, and
(asked of the simulated SourceMeter itself with plain PyVISA) that its output is off.

Command counts in `drop_after` / `error_after` are counted by the simulated instrument
over all connections; the comments say which command of the quick-grade run they hit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import pytest

from cli_helpers import run_bench
from sim_helpers import served_station, served_station_process, source_output_state, start_measure, wait_for_event

SPEED = 200
CELLS = ("F-1", "F-2", "F-3")

HEATING_DISCHARGE_PROFILE = """\
name = "heating-discharge"
description = "A ten-minute discharge: long enough for a faulty cell to heat past its limit."
cell_type = "nmc-18650-2.5ah"

[[steps]]
kind = "cc_discharge"
current_a = 1.0
cutoff_voltage_v = 2.8
max_duration_s = 600
sample_interval_s = 5
"""


def measure(tmp_path: Path, station: Path, profile: str = "quick-grade", timeout_ms: int | None = None):
    if timeout_ms is not None:
        station.write_text(station.read_text().replace("timeout_ms = 5000", f"timeout_ms = {timeout_ms}"))
    cell_args = [arg for cell in CELLS for arg in ("--cell", cell)]
    out = tmp_path / "run.h5"
    result = run_bench("measure", "--station", str(station), *cell_args, "--profile", profile, "--out", str(out),
                       "--quiet", timeout_s=120)
    return result, out


def statuses(out: Path) -> dict[str, tuple[str, str]]:
    """cell ID -> (status, reason), read with plain h5py as docs/hdf5-format.md describes."""
    found = {}
    with h5py.File(out, "r") as handle:
        for record in handle["records"].values():
            attrs = record.attrs
            found[str(attrs["cell_id"])] = (str(attrs["status"]), str(attrs.get("reason", "")))
    return found


def assert_one_line_error(result) -> None:
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_open_lead_fails_that_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    with served_station(tmp_path, cells=3, speed=SPEED, faults="bt4560:open_lead=2") as station:
        result, out = measure(tmp_path, station)
        assert source_output_state(station) == "0"
    assert result.returncode == 1, result.stderr
    found = statuses(out)
    assert found["F-1"][0] == found["F-3"][0] == "complete"
    assert found["F-2"][0] == "failed" and "open lead" in found["F-2"][1]


def test_reversed_cell_fails_that_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    with served_station(tmp_path, cells=3, speed=SPEED, faults="tray:reversed=2") as station:
        result, out = measure(tmp_path, station)
        assert source_output_state(station) == "0"
    assert result.returncode == 1, result.stderr
    found = statuses(out)
    assert found["F-2"][0] == "failed" and "revers" in found["F-2"][1]
    assert found["F-1"][0] == found["F-3"][0] == "complete"


def test_over_temperature_stops_the_discharge_and_keeps_what_was_read(tmp_path: Path) -> None:
    profile = tmp_path / "heating.toml"
    profile.write_text(HEATING_DISCHARGE_PROFILE)
    with served_station(tmp_path, cells=3, speed=SPEED, faults="tray:over_temp=1") as station:
        result, out = measure(tmp_path, station, profile=str(profile))
        assert source_output_state(station) == "0"
    assert result.returncode == 1, result.stderr
    found = statuses(out)
    assert found["F-1"][0] == "failed" and "temperature" in found["F-1"][1], found["F-1"]
    assert found["F-2"][0] == "complete"
    with h5py.File(out, "r") as handle:
        first = next(r for r in handle["records"].values() if r.attrs["cell_id"] == "F-1")
        temperatures_c = first["steps/cc_discharge/temperature_c"][()]
    assert temperatures_c.size > 3, "the readings before the breach are kept"
    assert temperatures_c.max() > 60.0


def test_a_dropped_connection_during_a_reading_is_retried_and_the_run_completes(tmp_path: Path) -> None:
    # The 30th command the SourceMeter receives is a `:READ?` in the first cell's pulse:
    # a query that changes nothing, so the driver asks again on a new connection.
    with served_station(tmp_path, cells=3, speed=SPEED, faults="keithley2400:drop_after=30") as station:
        result, out = measure(tmp_path, station)
        assert source_output_state(station) == "0"
    assert result.returncode == 0, result.stderr
    assert {status for status, _ in statuses(out).values()} == {"complete"}


def test_a_dropped_connection_after_a_setting_aborts_the_run_with_the_output_off(tmp_path: Path) -> None:
    # The 12th command is the compliance setting before the pulse: nobody knows whether it
    # was applied, so it is never re-sent blindly; the run stops and says so.
    with served_station(tmp_path, cells=3, speed=SPEED, faults="keithley2400:drop_after=12") as station:
        result, out = measure(tmp_path, station)
        assert source_output_state(station) == "0"
    assert result.returncode == 3
    assert_one_line_error(result)
    assert "keithley2400" in result.stderr
    found = statuses(out)
    assert found["F-1"][0] == "aborted" and "keithley2400" in found["F-1"][1]
    assert set(found) == {"F-1"}, "the run stops at the instrument failure"


def test_an_instrument_that_stops_answering_aborts_within_the_timeout(tmp_path: Path) -> None:
    with served_station(tmp_path, cells=3, speed=SPEED, faults="bt4560:no_reply_after=60") as station:
        started = time.monotonic()
        result, out = measure(tmp_path, station, timeout_ms=1000)
        elapsed_s = time.monotonic() - started
        assert source_output_state(station) == "0"
    assert result.returncode == 3
    assert_one_line_error(result)
    assert "bt4560" in result.stderr and "no reply" in result.stderr, "a hung instrument is not a dropped connection"
    assert elapsed_s < 30, "a hung instrument must be given up within its timeout and bounded retries"
    assert statuses(out)["F-1"][0] == "aborted"


@pytest.mark.parametrize("faults", ["bt4560:corrupt_every=5", "keithley2400:corrupt_every=9"])
def test_corrupted_replies_are_asked_again_and_never_stored(tmp_path: Path, faults: str) -> None:
    with served_station(tmp_path, cells=3, speed=SPEED, faults=faults) as station:
        result, out = measure(tmp_path, station)
    assert result.returncode == 0, result.stderr
    rows = json.loads(run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True).stdout)
    assert [row["grade"] for row in rows if row["grade"] == "retest"] == [], rows
    with h5py.File(out, "r") as handle:
        for record in handle["records"].values():
            for name, step in record["steps"].items():
                for dataset in step.values():
                    if isinstance(dataset, h5py.Dataset) and dataset.dtype.kind == "f":
                        assert not (dataset[()] != dataset[()]).any(), f"NaN stored in {name}/{dataset.name}"


def test_an_error_queue_entry_aborts_the_run_naming_the_command(tmp_path: Path) -> None:
    with served_station(tmp_path, cells=3, speed=SPEED, faults="keithley2400:error_after=40") as station:
        result, out = measure(tmp_path, station)
        assert source_output_state(station) == "0"
    assert result.returncode == 3
    assert_one_line_error(result)
    assert "-310" in result.stderr
    assert "aborted" in {status for status, _ in statuses(out).values()}


def test_the_simulator_killed_mid_discharge_gives_one_clear_line_within_the_timeout(tmp_path: Path) -> None:
    """The instruments vanish in the middle of a command: the run ends within the configured timeout and its bounded
    retries, says which instrument, and keeps the record as aborted with what was read."""
    profile = tmp_path / "heating.toml"
    profile.write_text(HEATING_DISCHARGE_PROFILE.replace("max_duration_s = 600", "max_duration_s = 20000"))
    out = tmp_path / "run.h5"
    with served_station_process(tmp_path, cells=1, speed=50) as (station, server):
        station.write_text(station.read_text().replace("timeout_ms = 5000", "timeout_ms = 1000"))
        process = start_measure(out, station, "--cell", "GONE-1", profile=str(profile))
        wait_for_event(process, lambda e: e["event"] == "step_started" and e["kind"] == "cc_discharge")
        time.sleep(0.5)
        server.kill()
        killed_at = time.monotonic()
        process.wait(timeout=60)
        elapsed_s = time.monotonic() - killed_at
    stderr = process.stderr.read()
    assert process.returncode == 3, stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and ("keithley2400" in errors[0] or "bt4560" in errors[0]), stderr
    assert "OUTPUTS NOT CONFIRMED OFF" in errors[0], "with the instrument gone, nobody can promise its output is off"
    # the rest are warnings, each said once: the output that could not be confirmed off, the switch that is gone
    assert all(line.startswith("warning: ") for line in lines if line not in errors), stderr
    assert len(lines) == len(set(lines)), stderr
    assert elapsed_s < 20, f"gave up after {elapsed_s:.1f} s with 1 s timeouts"
    found = statuses(out)
    assert found["GONE-1"][0] == "aborted"
    with h5py.File(out, "r") as handle:
        record = next(iter(handle["records"].values()))
        assert record["steps/cc_discharge/time_s"].size > 0, "the readings before the loss are kept"
