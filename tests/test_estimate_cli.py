"""The estimator through the installed CLI: import reference spectra, calibrate, evaluate with the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from bench.estimate.synthetic import REFERENCE_R0_OHM, synthetic_batch
from cli_helpers import run_bench

# quick-grade's cell type: nmc-18650-2.5ah, reference_r0_ohm 0.030
CELL_R0_OHM = 0.030
CELL_CAPACITY_AH = 2.5


def write_csv(path: Path, n_records: int, seed: int, *, records_per_cell: int, with_capacity: bool) -> np.ndarray:
    """Synthetic spectra scaled to the 18650 cell type, one CSV row per frequency point; returns the true SoH."""
    batch, truth = synthetic_batch(n_records, seed, records_per_cell=records_per_cell, n_freq=16)
    scale = CELL_R0_OHM / REFERENCE_R0_OHM
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cell_id", "measurement_id", "frequency_hz", "z_real_ohm", "z_imag_ohm", "temperature_c", "capacity_ah"])
        for i in range(n_records):
            capacity = f"{truth.soh[i] * CELL_CAPACITY_AH:.6f}" if with_capacity else ""
            for f, zr, zi in zip(batch.frequency_hz[i], batch.z_real_ohm[i], batch.z_imag_ohm[i]):
                writer.writerow([batch.cell_id[i], batch.measurement_id[i], repr(float(f)), repr(float(zr * scale)), repr(float(zi * scale)),
                                 f"{batch.temperature_c[i]:.3f}", capacity])
    return truth.soh


def test_import_calibrate_evaluate_round_trip(tmp_path: Path) -> None:
    ref_csv, test_csv = tmp_path / "reference.csv", tmp_path / "test.csv"
    write_csv(ref_csv, 60, seed=21, records_per_cell=2, with_capacity=True)
    true_soh = write_csv(test_csv, 20, seed=22, records_per_cell=1, with_capacity=False)
    run_bench("import", "csv", str(ref_csv), "-o", str(tmp_path / "reference.h5"), check=True)
    run_bench("import", "csv", str(test_csv), "-o", str(tmp_path / "test.h5"), check=True)

    model = tmp_path / "model.json"
    calibrated = run_bench("calibrate", str(tmp_path / "reference.h5"), "-o", str(model), check=True)
    assert "30 cell(s)" in calibrated.stdout and "coverage" in calibrated.stdout
    assert json.loads(model.read_text())["kind"] == "bench.soh-model"

    result = run_bench("evaluate", str(tmp_path / "test.h5"), "--model", str(model), "--json", "-", "--quiet", check=True)
    rows = json.loads(result.stdout)
    assert [r["method"] for r in rows] == ["calibrated"] * 20
    soh = np.array([r["soh"] for r in rows])
    assert np.mean(np.abs(soh - true_soh)) < 0.05
    assert all(r["grade"] in {"A", "B", "C", "recycle"} and r["residual_value"] is not None for r in rows)


def test_user_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "few.csv"
    write_csv(csv_path, 4, seed=23, records_per_cell=1, with_capacity=False)
    run_bench("import", "csv", str(csv_path), "-o", str(tmp_path / "few.h5"), check=True)
    no_ref = run_bench("calibrate", str(tmp_path / "few.h5"), "-o", str(tmp_path / "m.json"))
    assert no_ref.returncode == 2 and no_ref.stderr.count("\n") == 1 and "reference capacity" in no_ref.stderr
    not_a_model = tmp_path / "notes.json"
    not_a_model.write_text('{"hello": "world"}')
    bad = run_bench("evaluate", str(tmp_path / "few.h5"), "--model", str(not_a_model))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a bench SoH model" in bad.stderr
