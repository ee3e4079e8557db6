"""Load: a hundred cells in one `bench measure`, and `bench evaluate` of ten thousand records.

Marked slow (minutes): run with `.venv/bin/python -m pytest -m slow`. Memory is read from
/proc while the real CLI runs; nothing here times anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_bench
from sim_helpers import served_station, start_measure, wait_for_event

pytestmark = pytest.mark.slow

N_CELLS = 100
RSS_GROWTH_ALLOWED_MIB = 40.0  # the first cells load numpy, h5py and the drivers; after that it must stay flat


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc status")


def test_a_hundred_cells_in_one_run_without_memory_growth(tmp_path: Path) -> None:
    tray = tmp_path / "tray.csv"
    tray.write_text("slot,cell_id\n" + "".join(f"{slot},LOAD-{slot:03d}\n" for slot in range(1, N_CELLS + 1)))
    out = tmp_path / "load.h5"
    with served_station(tmp_path, cells=N_CELLS, speed=1000) as station:
        process = start_measure(out, station, "--tray", str(tray), profile="quick-grade")
        wait_for_event(process, lambda e: e["event"] == "cell_finished" and e["cell_id"] == "LOAD-010", timeout_s=300)
        early_mib = rss_mib(process.pid)
        wait_for_event(process, lambda e: e["event"] == "cell_finished" and e["cell_id"] == "LOAD-095", timeout_s=900)
        late_mib = rss_mib(process.pid)
        process.wait(timeout=300)
    assert process.returncode == 0, process.stderr.read()
    assert late_mib - early_mib < RSS_GROWTH_ALLOWED_MIB, f"RSS grew from {early_mib:.0f} to {late_mib:.0f} MiB"
    shown = run_bench("show", str(out), check=True).stdout
    assert shown.count("complete") >= N_CELLS


def test_evaluate_of_ten_thousand_imported_records(tmp_path: Path) -> None:
    """10,000 spectra through `bench import csv` and `bench evaluate`: every record graded, none lost."""
    n_records, frequencies_hz = 10_000, np.logspace(3, -1, 17)
    rng = np.random.default_rng(7)
    r0 = 0.03 * (1 + rng.uniform(0, 0.8, n_records))
    omega = 2 * np.pi * frequencies_hz
    z = (r0[:, None] + 0.012 / (1 + (1j * omega * 0.012 * 0.5) ** 0.85) + 0.004 * (1 - 1j) / np.sqrt(omega))
    z = z + rng.normal(0, 2e-5, z.shape) + 1j * rng.normal(0, 2e-5, z.shape)
    csv_path = tmp_path / "many.csv"
    with csv_path.open("w", encoding="utf-8") as handle:
        handle.write("cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm,temperature_c\n")
        for i in range(n_records):
            handle.writelines(
                f"CELL-{i:05d},M{i:05d},{float(f)!r},{float(zz.real)!r},{float(zz.imag)!r},25.0\n" for f, zz in zip(frequencies_hz, z[i])
            )
    out = tmp_path / "many.h5"
    run_bench("import", "csv", str(csv_path), "-o", str(out), check=True, timeout_s=900)
    result = run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True, timeout_s=900)
    rows = json.loads(result.stdout)
    assert len(rows) == n_records
    assert [row["measurement_id"] for row in rows[:3]] == ["M00000", "M00001", "M00002"]
    assert sum(row["grade"] == "retest" for row in rows) < n_records * 0.01
    assert all(row["soh"] is not None for row in rows)
