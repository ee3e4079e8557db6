"""Profiles and cell types: every built-in loads; bad files are refused with one precise line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.profiles import (
    CcDischargeStep,
    EisStep,
    ProfileError,
    builtin_cell_type_names,
    builtin_profile_names,
    load_cell_type,
    load_profile,
)

BASE = """\
name = "custom"
cell_type = "nmc-18650-2.5ah"
"""


def write_profile(tmp_path: Path, body: str, head: str = BASE) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(head + body, encoding="utf-8")
    return path


def refused(tmp_path: Path, body: str, head: str = BASE) -> str:
    path = write_profile(tmp_path, body, head)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_every_builtin_profile_loads_with_grading_and_currents_the_simulated_2400_can_give() -> None:
    names = builtin_profile_names()
    assert {"quick-grade", "capacity", "hppc", "eis"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.steps
        assert len({step.name for step in profile.steps}) == len(profile.steps)
        assert profile.grading["currency"] == "EUR"
        soh = [grade["min_soh"] for grade in profile.grading["grades"]]
        assert soh == sorted(soh, reverse=True)
        for step in profile.steps:
            assert getattr(step, "current_a", 0.0) <= 1.0
        assert len(profile.sha256) == 64


def test_quick_grade_matches_its_description() -> None:
    profile = load_profile("quick-grade")
    assert profile.cell_type.name == "nmc-18650-2.5ah"
    assert [step.kind for step in profile.steps] == ["ocv", "eis", "pulse"]
    eis = profile.steps[1]
    assert isinstance(eis, EisStep)
    assert eis.frequencies_hz[0] == 1050.0 and eis.frequencies_hz[-1] == 0.1
    assert 20 <= len(eis.frequencies_hz) <= 23  # about 5 points per decade over 4 decades
    assert eis.range_ohm == 0.3
    pulse = profile.steps[2]
    assert (pulse.current_a, pulse.direction, pulse.duration_s, pulse.rest_before_s, pulse.rest_after_s) == (
        1.0, "discharge", 10.0, 5.0, 10.0)
    assert pulse.sample_interval_s == 0.5


def test_capacity_profile_discharges_at_about_c_over_3_to_the_cell_minimum() -> None:
    profile = load_profile("capacity")
    discharge = next(step for step in profile.steps if step.kind == "cc_discharge")
    assert isinstance(discharge, CcDischargeStep)
    assert math.isclose(discharge.current_a, profile.cell_type.nominal_capacity_ah / 3, rel_tol=0.05)
    assert discharge.cutoff_voltage_v == profile.cell_type.min_voltage_v


def test_builtin_cell_types() -> None:
    assert set(builtin_cell_type_names()) >= {"nmc-18650-2.5ah", "lfp-18650-1.5ah"}
    nmc = load_cell_type("nmc-18650-2.5ah")
    assert (nmc.chemistry, nmc.nominal_capacity_ah, nmc.max_voltage_v, nmc.reference_r0_ohm) == ("nmc", 2.5, 4.2, 0.030)
    lfp = load_cell_type("lfp-18650-1.5ah")
    assert (lfp.chemistry, lfp.max_voltage_v, lfp.max_discharge_current_a) == ("lfp", 3.65, 4.5)


def test_unknown_profile_name_lists_the_builtins() -> None:
    with pytest.raises(ProfileError, match="no-such-profile.*quick-grade"):
        load_profile("no-such-profile")


def test_misspelt_key_suggests_the_known_one(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[steps]]\nkind = "ocv"\nsettle_sec = 3\n')
    assert "settle_sec" in message and "did you mean 'settle_s'" in message


def test_misspelt_top_level_key_and_step_kind(tmp_path: Path) -> None:
    assert "did you mean 'description'" in refused(tmp_path, 'descripton = "x"\n[[steps]]\nkind = "ocv"\n')
    assert "did you mean 'cc_discharge'" in refused(tmp_path, '[[steps]]\nkind = "cc_dischrge"\n')


def test_out_of_range_value_names_key_value_and_range(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[steps]]\nkind = "eis"\nfrequencies_hz = [1000.0]\naveraging = 300\n')
    assert "averaging = 300" in message and ">= 1 and <= 256" in message


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[steps]]\nkind = "rest"\nduration_s = "ten"\n')
    assert "duration_s = 'ten'" in message and "not a number" in message


def test_current_above_cell_limit_is_refused(tmp_path: Path) -> None:
    body = '[[steps]]\nkind = "cc_discharge"\ncurrent_a = 6.0\ncutoff_voltage_v = 2.8\nmax_duration_s = 100\n'
    message = refused(tmp_path, body)
    assert "current_a = 6 A" in message and "max_discharge_current_a 5 A" in message


def test_charge_pulse_is_checked_against_the_charge_limit(tmp_path: Path) -> None:
    body = '[[steps]]\nkind = "pulse"\ncurrent_a = 3.0\ndirection = "charge"\nduration_s = 10\n'
    assert "max_charge_current_a 2.5 A" in refused(tmp_path, body)


def test_cutoff_outside_voltage_window_is_refused(tmp_path: Path) -> None:
    body = '[[steps]]\nkind = "cc_discharge"\ncurrent_a = 1.0\ncutoff_voltage_v = 2.0\nmax_duration_s = 100\n'
    assert "outside the cell's voltage window 2.5..4.2 V" in refused(tmp_path, body)


def test_frequency_outside_meter_range_is_refused(tmp_path: Path) -> None:
    assert "5000 Hz" in refused(tmp_path, '[[steps]]\nkind = "eis"\nfrequencies_hz = [5000.0, 100.0]\n')
    assert "stop_hz = 0.01" in refused(tmp_path, '[[steps]]\nkind = "eis"\nstart_hz = 1000.0\nstop_hz = 0.01\npoints_per_decade = 5\n')


def test_safety_table_tightens_but_never_loosens(tmp_path: Path) -> None:
    path = write_profile(tmp_path, '[safety]\nmax_voltage_v = 4.1\nmax_discharge_current_a = 2.0\n[[steps]]\nkind = "ocv"\n')
    profile = load_profile(path)
    assert profile.safety.max_voltage_v == 4.1 and profile.safety.max_discharge_current_a == 2.0
    assert profile.safety.min_voltage_v == 2.5
    assert "looser" in refused(tmp_path, '[safety]\nmax_voltage_v = 4.5\n[[steps]]\nkind = "ocv"\n')
    # a tightened limit also bounds the steps
    body = '[safety]\nmax_discharge_current_a = 0.5\n[[steps]]\nkind = "cc_discharge"\ncurrent_a = 0.8\ncutoff_voltage_v = 3\nmax_duration_s = 9\n'
    assert "above the cell's max_discharge_current_a 0.5 A" in refused(tmp_path, body)


def test_step_names_default_to_kind_and_are_unique(tmp_path: Path) -> None:
    path = write_profile(tmp_path, '[[steps]]\nkind = "ocv"\n[[steps]]\nkind = "ocv"\n[[steps]]\nkind = "ocv"\nname = "last"\n')
    assert [s.name for s in load_profile(path).steps] == ["ocv", "ocv_2", "last"]
    assert "used by an earlier step" in refused(tmp_path, '[[steps]]\nkind = "ocv"\nname = "a"\n[[steps]]\nkind = "ocv"\nname = "a"\n')
    assert "must be a letter" in refused(tmp_path, '[[steps]]\nkind = "ocv"\nname = "../x"\n')


def test_grading_table_is_validated(tmp_path: Path) -> None:
    grades = '[grading]\ncurrency = "EUR"\n[[grading.grades]]\nname = "B"\nmin_soh = 0.8\nprice_per_kwh = 40\n' \
             '[[grading.grades]]\nname = "A"\nmin_soh = 0.9\nprice_per_kwh = 70\n'
    assert "best first" in refused(tmp_path, '[[steps]]\nkind = "ocv"\n' + grades)
    assert "did you mean 'min_soh'" in refused(
        tmp_path, '[[steps]]\nkind = "ocv"\n[grading]\n[[grading.grades]]\nname = "A"\nmin_sho = 0.9\nprice_per_kwh = 1\n')


def test_profile_without_grading_gets_the_default_rules(tmp_path: Path) -> None:
    profile = load_profile(write_profile(tmp_path, '[[steps]]\nkind = "ocv"\n'))
    assert [g["name"] for g in profile.grading["grades"]] == ["A", "B", "C"]


def test_cell_type_path_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    text = (Path(load_profile("eis").path).parent / "cells" / "lfp-18650-1.5ah.toml").read_text()
    (tmp_path / "cells" / "mine.toml").write_text(text.replace('"lfp-18650-1.5ah"', '"mine"'))
    profile = load_profile(write_profile(tmp_path, '[[steps]]\nkind = "ocv"\n', head='cell_type = "cells/mine.toml"\n'))
    assert profile.cell_type.name == "mine" and profile.cell_type.chemistry == "lfp"
    assert profile.name == "custom"  # from the file name


def test_unknown_cell_type_and_bad_toml(tmp_path: Path) -> None:
    assert "unknown cell type 'nmc-9000'" in str(pytest.raises(ProfileError, load_profile, write_profile(
        tmp_path, '[[steps]]\nkind = "ocv"\n', head='cell_type = "nmc-9000"\n')).value)
    assert "not valid TOML" in refused(tmp_path, "[[steps]\n")


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "nope.toml")


def test_steps_carry_every_attribute_the_runner_reads(tmp_path: Path) -> None:
    """The runner reads step attributes by name; one profile with every kind must satisfy it."""
    from bench.runner import STEP_RUNNERS, expected_duration_s

    body = """
[[steps]]
kind = "ocv"
[[steps]]
kind = "eis"
frequencies_hz = [1000.0, 1.0]
[[steps]]
kind = "rest"
duration_s = 10
[[steps]]
kind = "pulse"
current_a = 1.0
duration_s = 10
[[steps]]
kind = "cc_charge"
current_a = 1.0
cutoff_voltage_v = 4.1
max_duration_s = 100
[[steps]]
kind = "cccv_charge"
current_a = 1.0
voltage_v = 4.2
end_current_a = 0.1
max_duration_s = 100
[[steps]]
kind = "cc_discharge"
current_a = 1.0
cutoff_voltage_v = 2.8
max_duration_s = 100
[[steps]]
kind = "soc_adjust"
current_a = 1.0
fraction_of_capacity = 0.2
"""
    profile = load_profile(write_profile(tmp_path, body))
    assert {step.kind for step in profile.steps} == set(STEP_RUNNERS)
    runner_attributes = {
        "ocv": ("settle_s",), "eis": ("frequencies_hz", "range_ohm", "speed", "averaging"),
        "rest": ("duration_s", "sample_interval_s"),
        "pulse": ("current_a", "direction", "duration_s", "rest_before_s", "rest_after_s", "sample_interval_s"),
        "cc_charge": ("current_a", "cutoff_voltage_v", "max_duration_s", "sample_interval_s"),
        "cccv_charge": ("current_a", "voltage_v", "end_current_a", "max_duration_s", "sample_interval_s"),
        "cc_discharge": ("current_a", "cutoff_voltage_v", "max_duration_s", "sample_interval_s"),
        "soc_adjust": ("current_a", "fraction_of_capacity", "sample_interval_s"),
    }
    for step in profile.steps:
        for attribute in runner_attributes[step.kind]:
            assert hasattr(step, attribute), (step.kind, attribute)
        assert expected_duration_s(step, profile.cell_type.nominal_capacity_ah) > 0
    for name in builtin_profile_names():
        for step in load_profile(name).steps:
            assert expected_duration_s(step, 2.5) > 0


def test_cell_type_file_is_validated_too(tmp_path: Path) -> None:
    text = (Path(load_profile("eis").path).parent / "cells" / "nmc-18650-2.5ah.toml").read_text()
    bad = tmp_path / "cell.toml"
    bad.write_text(text.replace("reference_r0_ohm", "reference_r0_ohms"))
    with pytest.raises(ProfileError, match="did you mean 'reference_r0_ohm'"):
        load_cell_type(bad)
    bad.write_text(text.replace("max_voltage_v = 4.2", "max_voltage_v = 2.0"))
    with pytest.raises(ProfileError, match="min_voltage_v 2.5 must be below max_voltage_v 2"):
        load_cell_type(bad)


# ---------------------------------------------------------------- the [ocv] table of a cell type

NMC_WITHOUT_OCV = """\
name = "mine"
chemistry = "nmc"
nominal_capacity_ah = 2.5
nominal_voltage_v = 3.6
min_voltage_v = 2.5
max_voltage_v = 4.2
max_charge_current_a = 2.5
max_discharge_current_a = 5.0
min_temperature_c = -20.0
max_temperature_c = 60.0
reference_r0_ohm = 0.030
"""
GOOD_SOC = "[0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]"
GOOD_VOLTAGE_V = "[2.6, 3.3, 3.6, 3.73, 3.94, 4.12, 4.2]"


def ocv_cell(tmp_path: Path, ocv: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(NMC_WITHOUT_OCV + ocv, encoding="utf-8")
    return path


def ocv_refused(tmp_path: Path, soc: str = GOOD_SOC, voltage_v: str = GOOD_VOLTAGE_V, extra: str = "") -> str:
    path = ocv_cell(tmp_path, f"[ocv]\nsoc = {soc}\nvoltage_v = {voltage_v}\n{extra}")
    with pytest.raises(ProfileError) as info:
        load_cell_type(path)
    message = str(info.value)
    assert "\n" not in message and f"{path} [ocv]" in message
    return message


def test_builtin_cell_types_carry_their_chemistrys_ocv_curve() -> None:
    for name, v_half in (("nmc-18650-2.5ah", 3.73), ("lfp-18650-1.5ah", 3.29)):
        cell = load_cell_type(name)
        assert len(cell.ocv_soc) == len(cell.ocv_voltage_v) >= 20
        assert cell.ocv_soc[0] == 0.0 and cell.ocv_soc[-1] == 1.0
        assert all(b > a for a, b in zip(cell.ocv_soc, cell.ocv_soc[1:]))
        assert all(b >= a for a, b in zip(cell.ocv_voltage_v, cell.ocv_voltage_v[1:]))
        assert cell.ocv_voltage_v[0] >= cell.min_voltage_v and cell.ocv_voltage_v[-1] <= cell.max_voltage_v
        assert cell.ocv_voltage_v[cell.ocv_soc.index(0.5)] == pytest.approx(v_half, abs=0.005)


def test_ocv_table_is_optional_and_read_as_tuples(tmp_path: Path) -> None:
    bare = load_cell_type(ocv_cell(tmp_path, ""))
    assert bare.ocv_soc == () and bare.ocv_voltage_v == ()
    cell = load_cell_type(ocv_cell(tmp_path, f"[ocv]\nsoc = {GOOD_SOC}\nvoltage_v = {GOOD_VOLTAGE_V}\n"))
    assert cell.ocv_soc == (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    assert cell.ocv_voltage_v[0] == 2.6 and isinstance(cell.ocv_voltage_v, tuple)


def test_ocv_table_must_be_a_usable_curve(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"mine.toml \[ocv\]: missing key 'voltage_v'"):
        load_cell_type(ocv_cell(tmp_path, f"[ocv]\nsoc = {GOOD_SOC}\n"))
    assert "unknown key 'volts'" in ocv_refused(tmp_path, extra="volts = 1.0\n")
    assert "soc has 7 values and voltage_v 6" in ocv_refused(tmp_path, voltage_v="[2.6, 3.3, 3.6, 3.73, 3.94, 4.12]")
    assert "at least 5 points" in ocv_refused(tmp_path, soc="[0.0, 0.5, 1.0]", voltage_v="[3.0, 3.7, 4.2]")
    assert "strictly increasing" in ocv_refused(tmp_path, soc="[0.0, 0.05, 0.5, 0.5, 0.75, 0.95, 1.0]")
    assert "leaves 0..1" in ocv_refused(tmp_path, soc="[0, 5, 25, 50, 75, 95, 100]")
    assert "must cover at least 0.05..0.95" in ocv_refused(tmp_path, soc="[0.1, 0.2, 0.25, 0.5, 0.75, 0.95, 1.0]")
    assert "must cover at least 0.05..0.95" in ocv_refused(tmp_path, soc="[0.0, 0.05, 0.25, 0.5, 0.75, 0.9, 0.94]")
    assert "must not decrease" in ocv_refused(tmp_path, voltage_v="[2.6, 3.3, 3.6, 3.55, 3.94, 4.12, 4.2]")
    assert "outside the cell's min_voltage_v..max_voltage_v 2.5..4.2 V" in ocv_refused(
        tmp_path, voltage_v="[2.6, 3.3, 3.6, 3.73, 3.94, 4.12, 4.25]")
    assert "outside the cell's" in ocv_refused(tmp_path, voltage_v="[2.4, 3.3, 3.6, 3.73, 3.94, 4.12, 4.2]")
    assert "not a non-empty list of numbers" in ocv_refused(tmp_path, soc='["0", 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]')
    assert "not a finite number" in ocv_refused(tmp_path, voltage_v="[2.6, 3.3, nan, 3.73, 3.94, 4.12, 4.2]")
    path = ocv_cell(tmp_path, 'ocv = "flat"\n')
    with pytest.raises(ProfileError, match=r"\[ocv\]: must be a table"):
        load_cell_type(path)


def test_flat_stretch_of_equal_voltages_is_allowed(tmp_path: Path) -> None:
    cell = load_cell_type(ocv_cell(tmp_path, "[ocv]\nsoc = [0.0, 0.05, 0.4, 0.6, 0.95, 1.0]\n"
                                             "voltage_v = [2.5, 3.1, 3.3, 3.3, 3.4, 3.6]\n"))
    assert cell.ocv_voltage_v[2] == cell.ocv_voltage_v[3]


def test_misspelt_ocv_table_name_is_refused_naming_ocv(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown key 'ocvs'; did you mean 'ocv'"):
        load_cell_type(ocv_cell(tmp_path, "[ocvs]\nsoc = [0.0]\n"))
    with pytest.raises(ProfileError, match="unknown key 'ocv_curve'; known keys: .*reference_r0_ohm, ocv$"):
        load_cell_type(ocv_cell(tmp_path, "[ocv_curve]\nsoc = [0.0]\n"))
