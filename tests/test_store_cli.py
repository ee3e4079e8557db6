"""`bench show` through the installed CLI: a table of records, one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from cli_helpers import run_bench
from test_store import make_meta, write_full_record

from bench.store import RunStore


def test_show_lists_records_with_status_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    store = RunStore(path)
    write_full_record(store, "CELL-OK", rng=np.random.default_rng(0))
    with store.begin_record(make_meta("CELL-BAD")) as record:
        record.finish("failed", reason="safety: temperature 61.0 C above the limit")
    out = run_bench("show", str(path), check=True).stdout
    ok_line = next(line for line in out.splitlines() if "CELL-OK" in line)
    bad_line = next(line for line in out.splitlines() if "CELL-BAD" in line)
    assert "r000001" in ok_line and "complete" in ok_line and "quick-grade" in ok_line
    assert "failed" in bad_line and "safety: temperature" in bad_line
    assert "2 records" in out


def test_show_refuses_bad_files_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "text.h5"
    text.write_text("hello")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle["x"] = 1
    truncated = tmp_path / "truncated.h5"
    write_full_record(RunStore(truncated), "C", rng=np.random.default_rng(0))
    truncated.write_bytes(truncated.read_bytes()[:3000])
    for path, expected in ((tmp_path / "missing.h5", "does not exist"), (text, "not an HDF5 file"),
                           (foreign, "not a bench file"), (truncated, str(truncated))):
        result = run_bench("show", str(path))
        assert result.returncode == 2, (path, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr


def test_show_prints_plain_columns_for_large_files(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from bench.commands import show as show_module

    path = tmp_path / "run.h5"
    store = RunStore(path)
    for n in range(3):
        with store.begin_record(make_meta(f"CELL-{n}")) as record:
            record.finish("aborted", reason="interrupted by SIGINT")
    monkeypatch.setattr(show_module, "RICH_TABLE_MAX_ROWS", 2)
    result = CliRunner().invoke(show_module.show, [str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{path} (3 records)"
    assert lines[1].split()[:2] == ["record", "cell"]
    assert lines[2].split() == ["r000001", "CELL-0", "quick-grade", *lines[2].split()[3:5], "aborted", "interrupted", "by", "SIGINT"]
