"""End to end: the installed `bench` against simulated instruments over real transports, real HDF5 files."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import h5py

from cli_helpers import bench_executable, run_bench


def test_version_and_help_name_every_command() -> None:
    version = run_bench("--version", check=True)
    assert version.stdout.startswith("bench, version ")
    top = run_bench("--help", check=True).stdout
    for command in ("demo", "measure", "evaluate", "calibrate", "show", "profiles", "import", "instruments", "sim"):
        assert command in top
        sub = run_bench(command, "--help", check=True).stdout
        assert "Example" in sub, f"`bench {command} --help` shows no example"


def test_demo_measures_stores_and_grades_a_tray(tmp_path: Path) -> None:
    out = tmp_path / "demo.h5"
    result = run_bench("demo", "--cells", "3", "--out", str(out), timeout_s=180)
    assert result.returncode == 0, result.stderr
    for slot in (1, 2, 3):
        assert f"DEMO-00-{slot:03d}" in result.stdout
    assert str(out.name) in result.stdout
    with h5py.File(out, "r") as handle:  # plain h5py opens what the demo left
        assert handle.attrs["format"] in ("bench-hdf5", b"bench-hdf5")
    shown = run_bench("show", str(out), check=True).stdout
    assert shown.count("complete") >= 3


def test_measure_over_a_station_file_from_sim_serve_then_evaluate_json(tmp_path: Path) -> None:
    station = tmp_path / "station.toml"
    server = subprocess.Popen(
        [bench_executable(), "sim", "serve", "--cells", "2", "--seed", "5", "--speed", "300", "--station-out", str(station)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = server.stdout.readline().strip()  # serve prints `<name> <VISA resource>` per instrument
        assert first_line.split()[0] in {"bt4560", "keithley2400", "keithley2281s", "switch"}, first_line
        deadline = time.monotonic() + 30
        while not station.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert station.exists(), "bench sim serve wrote no station file"
        out = tmp_path / "run.h5"
        measured = run_bench(
            "measure", "--station", str(station), "--cell", "A-1", "--cell", "A-2",
            "--profile", "quick-grade", "--out", str(out), "--quiet", timeout_s=180,
        )
        assert measured.returncode == 0, measured.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    assert server.returncode == 0
    evaluated = run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True)
    rows = json.loads(evaluated.stdout)
    assert [row["cell_id"] for row in rows] == ["A-1", "A-2"]
    for row in rows:
        assert {"measurement_id", "soh", "soh_low", "soh_high", "grade", "residual_value", "method", "warnings"} <= set(row)
        assert row["grade"] != "retest", row["warnings"]
        assert 0.3 < row["soh"] < 1.2


def test_bad_profile_name_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_bench("measure", "--sim", "--cell", "X", "--profile", "no-such-profile", "--out", str(tmp_path / "x.h5"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no-such-profile" in result.stderr
    assert not (tmp_path / "x.h5").exists()


def test_capacity_then_quick_grade_of_four_cells_into_one_file(tmp_path: Path) -> None:
    """The reference test and the quick test of the same four cells: plain h5py reads both, SoH is measured."""
    from drivers.sim.tray import make_tray

    out = tmp_path / "tray.h5"
    cells = [arg for n in range(1, 5) for arg in ("--cell", f"T-{n}")]
    for profile, speed in (("capacity", "2000"), ("quick-grade", "200")):
        result = run_bench("measure", "--sim", *cells, "--profile", profile, "--speed", speed, "--out", str(out),
                           "--quiet", timeout_s=300)
        assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as handle:  # as docs/hdf5-format.md describes it
        records = [handle["records"][key] for key in sorted(handle["records"])]
        assert [r.attrs["profile_name"] for r in records] == ["capacity"] * 4 + ["quick-grade"] * 4
        assert {r.attrs["status"] for r in records} == {"complete"}
        discharge = next(step for step in records[0]["steps"].values() if step.attrs["kind"] == "cc_discharge")
        assert discharge["voltage_v"].attrs["units"] == "V" and discharge["current_a"][-1] < 0
        assert discharge["voltage_v"][-1] <= 2.6
        spectrum = records[4]["steps/eis"]
        assert spectrum["frequency_hz"][0] > 1000 and spectrum["frequency_hz"][-1] < 0.11
    rows = json.loads(run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True).stdout)
    true_soh = {f"T-{cell.slot}": cell.true_soh for cell in make_tray(4, 0, "nmc").cells}
    measured = [row for row in rows if row["method"] == "measured"]
    assert len(measured) == 4
    for row in measured:  # a C/3 discharge gives slightly less than the cell's full capacity
        assert abs(row["soh"] - true_soh[row["cell_id"]]) < 0.02, row


def test_lfp_cells_with_their_own_quick_grade(tmp_path: Path) -> None:
    """`--sim` serves cells of the profile's chemistry; the LFP record carries its cell type and is graded."""
    from drivers.sim.tray import make_tray

    out = tmp_path / "lfp.h5"
    result = run_bench("measure", "--sim", "--cell", "L-1", "--cell", "L-2", "--profile", "quick-grade-lfp",
                       "--out", str(out), "--quiet", timeout_s=180)
    assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as handle:
        record = handle["records"]["r000001"]
        assert record["cell_type"].attrs["chemistry"] == "lfp"
        assert 2.9 < float(record["steps/ocv/voltage_v"][()]) < 3.5  # on the LFP plateau, not an NMC voltage
    rows = json.loads(run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True).stdout)
    truth = {f"L-{cell.slot}": cell.true_soh for cell in make_tray(2, 0, "lfp").cells}
    for row in rows:
        assert row["grade"] != "retest", row["warnings"]
        assert abs(row["soh"] - truth[row["cell_id"]]) < 0.05, row


def test_measure_sim_spreads_cells_over_temperature_and_soc(tmp_path: Path) -> None:
    out = tmp_path / "cold.h5"
    result = run_bench("measure", "--sim", "--cell", "K-1", "--cell", "K-2", "--profile", "quick-grade",
                       "--ambient-c", "-10:-5", "--soc", "0.8:0.9", "--out", str(out), "--quiet", timeout_s=180)
    assert result.returncode == 0, result.stderr
    rows = json.loads(run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True).stdout)
    for row in rows:
        assert -10.5 < row["temperature_c"] < -4.5, row
        assert 0.75 < row["soc"] < 0.95, row
