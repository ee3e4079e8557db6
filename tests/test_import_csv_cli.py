"""`bench import csv` through the installed CLI, then `bench show` and `bench evaluate` on the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cli_helpers import run_bench


def test_import_then_show(tmp_path: Path) -> None:
    frequencies = np.geomspace(1000.0, 0.1, 21)
    lines = ["cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm,temperature_c,capacity_ah"]
    for cell, r0 in (("LAB-1", 0.030), ("LAB-2", 0.045)):
        for f in frequencies.tolist():
            z_imag = -0.01 * (1.0 / f) ** 0.5
            lines.append(f"{cell},{cell}-m1,{f!r},{r0 + 0.01 / (1 + f / 10)!r},{z_imag!r},25.0,2.3")
    csv_path = tmp_path / "lab.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "lab.h5"
    result = run_bench("import", "csv", str(csv_path), "-o", str(out), check=True)
    assert "imported 2 measurement(s) of 2 cell(s), 42 points" in result.stdout
    shown = run_bench("show", str(out), check=True).stdout
    assert "LAB-1-m1" in shown and shown.count("complete") == 2


def test_import_error_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm\nA,1,100,0.1,-0.1\nA,1,-1,0.1,-0.1\n")
    out = tmp_path / "out.h5"
    result = run_bench("import", "csv", str(csv_path), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {csv_path}, line 3, column frequency_hz: '-1' is out of range (> 0 Hz)"]
    assert not out.exists()
    assert "Examples:" in run_bench("import", "csv", "--help", check=True).stdout
