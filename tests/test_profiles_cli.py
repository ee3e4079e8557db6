"""`bench profiles` through the installed CLI."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_bench


def test_list_names_every_builtin_with_cell_type() -> None:
    out = run_bench("profiles", "list", check=True).stdout
    for name in ("quick-grade", "capacity", "hppc", "eis"):
        assert name in out
    assert "nmc-18650-2.5ah" in out and "cc_discharge" in out


def test_show_prints_the_toml_and_effective_limits() -> None:
    out = run_bench("profiles", "show", "quick-grade", check=True).stdout
    assert 'name = "quick-grade"' in out and "[[grading.grades]]" in out
    assert "max_discharge_current_a = 5" in out and "steps: ocv, eis, pulse" in out


def test_validate_ok_and_one_line_error_with_exit_2(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('cell_type = "lfp-18650-1.5ah"\n[[steps]]\nkind = "ocv"\n')
    ok = run_bench("profiles", "validate", str(good), check=True)
    assert ok.stdout.startswith("OK: ") and "lfp-18650-1.5ah" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('cell_type = "lfp-18650-1.5ah"\n[[steps]]\nkind = "cc_discharge"\ncurrent_a = 1.0\n'
                   'cutoff_voltage_v = 2.6\nmax_duraton_s = 100\n')
    result = run_bench("profiles", "validate", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "max_duraton_s" in lines[0] and "did you mean 'max_duration_s'" in lines[0]
    missing = run_bench("profiles", "show", "nope")
    assert missing.returncode == 2 and "unknown profile 'nope'" in missing.stderr


def test_every_subcommand_help_has_examples() -> None:
    for sub in ("list", "show", "validate"):
        assert "Examples:" in run_bench("profiles", sub, "--help", check=True).stdout
