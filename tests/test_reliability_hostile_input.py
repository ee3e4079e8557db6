"""Hostile input through the real CLI: one line naming the problem, exit 2, nothing written.

Each case builds its bad input in an empty folder, runs `bench` there, and checks that
the folder holds exactly what it held before: nothing half-written, nothing written
outside the requested output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from cli_helpers import run_bench

GOOD_PROFILE = """\
name = "tiny"
cell_type = "nmc-18650-2.5ah"

[[steps]]
kind = "ocv"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def measure_args(tmp: Path, *cells: str, profile: str = "quick-grade") -> list[str]:
    return ["measure", "--sim", *[arg for cell in cells for arg in ("--cell", cell)], "--profile", profile,
            "--out", str(tmp / "out.h5")]


def newer_format_file(tmp: Path) -> Path:
    path = tmp / "future.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["format"] = "bench-hdf5"
        handle.attrs["format_version"] = 99
        handle.create_group("records")
    return path


def truncated_file(tmp: Path) -> Path:
    source = tmp / "whole.h5"
    with h5py.File(source, "w") as handle:
        handle.attrs["format"] = "bench-hdf5"
        handle.attrs["format_version"] = 1
        handle.create_dataset("records/r000001/x", data=list(range(5000)))
    data = source.read_bytes()
    source.unlink()
    path = tmp / "truncated.h5"
    path.write_bytes(data[: len(data) // 3])
    return path


CSV_HEADER = "cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm\n"

# (case id, builder returning the CLI arguments, text the one line must contain)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("cell id with ..", lambda t: measure_args(t, "../../etc/passwd"), "path"),
    ("cell id with /", lambda t: measure_args(t, "A/B"), "path"),
    ("cell id with control char", lambda t: measure_args(t, "A\x1bB"), "control"),
    ("cell id of 5000 chars", lambda t: measure_args(t, "x" * 5000), "longer than"),
    ("misspelt profile key", lambda t: measure_args(
        t, "C1", profile=str(write(t / "p.toml", GOOD_PROFILE + "setle_s = 3\n"))), "settle_s"),
    ("unknown top-level key", lambda t: measure_args(
        t, "C1", profile=str(write(t / "p.toml", "colour = 'red'\n" + GOOD_PROFILE))), "colour"),
    ("out-of-range value", lambda t: measure_args(
        t, "C1", profile=str(write(t / "p.toml", GOOD_PROFILE + "[[steps]]\nkind = 'eis'\nfrequencies_hz = [5000.0]\n"))),
     "5000"),
    ("current above the cell type", lambda t: measure_args(
        t, "C1", profile=str(write(t / "p.toml", GOOD_PROFILE + "[[steps]]\nkind = 'cc_discharge'\ncurrent_a = 9.0\n"
                                   "cutoff_voltage_v = 2.8\nmax_duration_s = 100\nsample_interval_s = 1\n"))), "current"),
    ("not an HDF5 file", lambda t: ["evaluate", str(write(t / "notes.h5", "just text\n"))], "notes.h5"),
    ("truncated HDF5 file", lambda t: ["evaluate", str(truncated_file(t))], "truncated.h5"),
    ("newer format version", lambda t: ["evaluate", str(newer_format_file(t))], "version"),
    ("CSV missing a column", lambda t: ["import", "csv", str(write(t / "a.csv", "cell_id,frequency_hz\nC1,1.0\n")),
                                        "-o", str(t / "out.h5")], "measurement_id"),
    ("CSV NaN frequency", lambda t: ["import", "csv", str(write(t / "a.csv", CSV_HEADER + "C1,m1,nan,0.03,-0.001\n")),
                                     "-o", str(t / "out.h5")], "frequency_hz"),
    ("CSV negative frequency", lambda t: ["import", "csv", str(write(t / "a.csv", CSV_HEADER + "C1,m1,-5,0.03,-0.001\n")),
                                          "-o", str(t / "out.h5")], "frequency_hz"),
    ("CSV cell id with /", lambda t: ["import", "csv", str(write(t / "a.csv", CSV_HEADER + "A/B,m1,5,0.03,-0.001\n")),
                                      "-o", str(t / "out.h5")], "path"),
    ("missing option", lambda t: ["measure", "--sim", "--cell", "C1", "--out", str(t / "out.h5")], "--profile"),
    ("option value out of range", lambda t: ["demo", "--cells", "0", "--out", str(t / "out.h5")], "--cells"),
    ("simulator option without --sim", lambda t: ["measure", "--station", str(write(t / "s.toml", "")), "--cell", "C1",
                                                  "--profile", "quick-grade", "--soc", "0.1:0.2", "--out", str(t / "out.h5")],
     "--sim"),
    ("station file with an unknown role", lambda t: ["measure", "--station", str(write(
        t / "s.toml", "[station]\nname='x'\n[roles]\nkettle='k'\n")), "--cell", "C1", "--profile", "quick-grade",
        "--out", str(t / "out.h5")], "kettle"),
]


@pytest.mark.parametrize(("build", "expected"), [(b, e) for _, b, e in CASES], ids=[c for c, _, _ in CASES])
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, build, expected: str) -> None:
    args = build(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_bench(*args, cwd=tmp_path, timeout_s=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected.lower() in lines[0].lower(), lines[0]
    assert len(lines[0]) < 400
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing may be written on bad input"
