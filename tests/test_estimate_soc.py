"""SOC from open-circuit voltage: the inversion, a batch of mixed cell types, calibrate/evaluate, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.estimate import calibrate, evaluate
from bench.estimate.soc import OCV_TOLERANCE_V, OcvCurve, record_soc, soc_from_ocv
from bench.estimate.synthetic import GRADING_RULES, synthetic_batch
from bench.profiles import cell_type_dict, load_cell_type
from bench.records import RecordBatch
from cli_helpers import run_bench
from drivers.sim.cell import chemistry_by_name, ocv_v
from drivers.sim.tray import make_tray

NMC = load_cell_type("nmc-18650-2.5ah")
LFP = load_cell_type("lfp-18650-1.5ah")


def curve_of(cell) -> OcvCurve:
    curve = OcvCurve.from_cell_type(cell_type_dict(cell))
    assert curve is not None
    return curve


# ---------------------------------------------------------------- the inversion


@pytest.mark.parametrize("cell", [NMC, LFP], ids=["nmc", "lfp"])
def test_exact_at_every_table_point(cell) -> None:
    soc = soc_from_ocv(np.array(cell.ocv_voltage_v), curve_of(cell))
    np.testing.assert_allclose(soc, cell.ocv_soc, atol=1e-12)


@pytest.mark.parametrize("cell", [NMC, LFP], ids=["nmc", "lfp"])
def test_monotone_and_within_0_1_across_the_table(cell) -> None:
    voltage_v = np.linspace(cell.ocv_voltage_v[0] - 0.04, cell.ocv_voltage_v[-1] + 0.04, 5001)
    soc = soc_from_ocv(voltage_v, curve_of(cell))
    assert np.isfinite(soc).all()
    assert np.all(np.diff(soc) >= 0)
    assert soc.min() == 0.0 and soc.max() == 1.0


def test_nan_beyond_the_tolerance_and_for_missing_voltages() -> None:
    curve = curve_of(NMC)
    low, high = NMC.ocv_voltage_v[0], NMC.ocv_voltage_v[-1]
    voltage_v = np.array([low - OCV_TOLERANCE_V - 0.001, low - OCV_TOLERANCE_V + 0.001, high + OCV_TOLERANCE_V - 0.001,
                          high + OCV_TOLERANCE_V + 0.001, np.nan, 0.0, 1e9, -3.7])
    soc = soc_from_ocv(voltage_v, curve)
    assert np.isnan(soc[[0, 3, 4, 5, 6, 7]]).all()
    assert soc[1] == 0.0 and soc[2] == 1.0


def test_table_short_of_the_ends_clips_to_its_own_range() -> None:
    curve = OcvCurve(np.array([0.05, 0.3, 0.5, 0.7, 0.95]), np.array([3.3, 3.62, 3.73, 3.9, 4.12]))
    soc = soc_from_ocv(np.array([3.28, 3.3, 3.675, 4.15]), curve)
    np.testing.assert_allclose(soc, [0.05, 0.05, 0.4, 0.95])


def test_flat_stretch_of_equal_voltages_reads_as_its_middle() -> None:
    curve = OcvCurve(np.array([0.0, 0.05, 0.4, 0.6, 0.95, 1.0]), np.array([2.5, 3.1, 3.3, 3.3, 3.4, 3.6]))
    soc = soc_from_ocv(np.array([3.3, 3.2, 3.35]), curve)
    np.testing.assert_allclose(soc, [0.5, 0.05 + 0.45 * 0.5, 0.5 + 0.45 * 0.5])


@settings(max_examples=60, deadline=None)
@given(st.floats(0.05, 0.95))
def test_nmc_table_inverts_the_simulators_chemistry_curve_within_half_a_percent(true_soc: float) -> None:
    """The built-in table is sampled from the chemistry's typical curve, which the simulated cells follow."""
    voltage_v = float(ocv_v(chemistry_by_name("nmc"), true_soc))
    assert soc_from_ocv(np.array([voltage_v]), curve_of(NMC))[0] == pytest.approx(true_soc, abs=0.005)


def test_unusable_stored_tables_are_treated_as_absent() -> None:
    good = cell_type_dict(NMC)
    assert OcvCurve.from_cell_type(good) is not None
    for bad in (
        {**good, "ocv_soc": ()},
        {**good, "ocv_soc": good["ocv_soc"][:-1]},
        {**good, "ocv_soc": tuple(reversed(good["ocv_soc"]))},
        {**good, "ocv_voltage_v": tuple(reversed(good["ocv_voltage_v"]))},
        {**good, "ocv_soc": tuple(100 * s for s in good["ocv_soc"])},
        {**good, "ocv_voltage_v": "[3.0, 4.0]"},
        {k: v for k, v in good.items() if k != "ocv_voltage_v"},
        "nmc",
        None,
    ):
        assert OcvCurve.from_cell_type(bad) is None


# ---------------------------------------------------------------- batches


def batch_with(rules_key: list[str], soc: list[float], ocv_v_: list[float], rules_by_key: dict) -> RecordBatch:
    base, _truth = synthetic_batch(len(soc), seed=1)
    return dataclasses.replace(
        base, rules_key=np.array(rules_key), soc=np.array(soc, dtype=float), ocv_v=np.array(ocv_v_, dtype=float),
        rules_by_key=rules_by_key,
    )


def test_batch_of_mixed_cell_types_each_read_off_its_own_curve() -> None:
    rules = {
        "nmc": {**GRADING_RULES, "cell_type": cell_type_dict(NMC)},
        "lfp": {**GRADING_RULES, "cell_type": cell_type_dict(LFP)},
        "bare": {**GRADING_RULES, "cell_type": {**cell_type_dict(NMC), "ocv_soc": (), "ocv_voltage_v": ()}},
        "none": GRADING_RULES,
    }
    keys = ["nmc", "lfp", "nmc", "lfp", "bare", "none", "nmc", "nmc", "lfp", "missing"]
    soc = [np.nan, np.nan, 0.42, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]
    ocv = [3.73, 3.73, 3.9, 3.29, 3.73, 3.73, np.nan, 4.4, 3.2, 3.73]
    got = record_soc(batch_with(keys, soc, ocv, rules))
    expected = [
        0.5,  # NMC at 3.73 V
        np.nan,  # 3.73 V is far above the LFP table's end (3.65 V): not this chemistry
        0.42,  # measured SOC wins over the OCV
        0.5,  # LFP at 3.29 V (on the plateau)
        np.nan, np.nan,  # a cell type without a table, rules without a cell type
        np.nan,  # no OCV
        np.nan,  # 4.4 V: 200 mV above a full NMC cell
        0.1,  # LFP at 3.2 V
        np.nan,  # rules key the batch does not know
    ]
    np.testing.assert_allclose(got.soc, expected, atol=1e-12)
    assert list(got.source) == ["ocv", "", "measured", "ocv", "", "", "", "", "ocv", ""]


def test_the_same_voltage_means_different_soc_for_nmc_and_lfp() -> None:
    rules = {k: {**GRADING_RULES, "cell_type": cell_type_dict(c)} for k, c in (("nmc", NMC), ("lfp", LFP))}
    got = record_soc(batch_with(["nmc", "lfp"], [np.nan, np.nan], [3.3, 3.3], rules)).soc
    assert got[0] == pytest.approx(0.05) and got[1] == pytest.approx(0.6)


def test_empty_batch() -> None:
    got = record_soc(batch_with([], [], [], {}))
    assert got.soc.shape == (0,) and got.source.shape == (0,)


# ---------------------------------------------------------------- calibrate and evaluate see the same SOC


LINEAR_OCV_CELL_TYPE = {"name": "synthetic", "ocv_soc": (0.0, 0.25, 0.5, 0.75, 1.0),
                        "ocv_voltage_v": (3.0, 3.3, 3.6, 3.9, 4.2)}


def ocv_only(batch: RecordBatch) -> RecordBatch:
    """The batch as a station would store it: no measured SOC, the OCV the (linear) curve gives for it."""
    rules = {"quick-grade": {**GRADING_RULES, "cell_type": LINEAR_OCV_CELL_TYPE}}
    return dataclasses.replace(batch, soc=np.full(batch.n_records, np.nan), ocv_v=3.0 + 1.2 * batch.soc,
                               rules_by_key=rules)


def test_calibrate_and_evaluate_use_the_soc_filled_from_ocv() -> None:
    measured, _truth = synthetic_batch(120, seed=7, with_reference=True)
    from_ocv = ocv_only(measured)
    soc_index = -1
    model_measured, _ = calibrate(measured)
    model_ocv, _ = calibrate(from_ocv)
    assert model_ocv.feature_names[soc_index] == "soc"
    assert model_ocv.scale[soc_index] == pytest.approx(np.std(measured.soc), rel=1e-9)  # SOC was seen in training
    np.testing.assert_allclose(model_ocv.coef, model_measured.coef, rtol=1e-9, atol=1e-12)
    fresh, _ = synthetic_batch(30, seed=8)
    by_measured = evaluate(fresh, model_measured)
    by_ocv = evaluate(ocv_only(fresh), model_ocv)
    np.testing.assert_allclose(by_ocv.soh, by_measured.soh, rtol=1e-9)
    np.testing.assert_allclose(by_ocv.soc, fresh.soc, atol=1e-12)
    assert set(by_ocv.soc_source) == {"ocv"} and set(by_measured.soc_source) == {"measured"}
    # without a curve the SOC stays unknown and the model predicts as if at its training centre: different SoH
    unknown = evaluate(dataclasses.replace(ocv_only(fresh), rules_by_key={"quick-grade": GRADING_RULES}), model_ocv)
    assert set(unknown.soc_source) == {""} and np.isnan(unknown.soc).all()
    assert np.abs(unknown.soh - by_ocv.soh).max() > 1e-4


def test_rows_carry_soc_and_its_source() -> None:
    batch = ocv_only(synthetic_batch(3, seed=2)[0])
    rows = evaluate(batch).to_rows()
    assert [row["soc_source"] for row in rows] == ["ocv"] * 3
    assert [row["soc"] for row in rows] == pytest.approx(list(synthetic_batch(3, seed=2)[0].soc))
    json.dumps(rows)  # plain JSON types
    blank = evaluate(dataclasses.replace(batch, rules_by_key={"quick-grade": GRADING_RULES})).to_rows()
    assert blank[0]["soc"] is None and blank[0]["soc_source"] == ""


# ---------------------------------------------------------------- end to end through the CLI


def measure_and_evaluate(tmp_path: Path, profile: str, cells: int) -> list[dict]:
    out = tmp_path / "run.h5"
    run_bench("measure", "--sim", *[a for i in range(cells) for a in ("--cell", f"X{i}")], "--profile", profile,
              "--out", str(out), "--quiet", check=True)
    result = run_bench("evaluate", str(out), "--json", "-", "--quiet", check=True)
    return json.loads(result.stdout)


def test_cli_soc_of_a_simulated_nmc_cell_matches_its_starting_soc(tmp_path: Path) -> None:
    rows = measure_and_evaluate(tmp_path, "quick-grade", 1)
    true_soc = make_tray(1, 0, "nmc").cells[0].state.soc
    assert rows[0]["soc_source"] == "ocv"
    assert rows[0]["soc"] == pytest.approx(true_soc, abs=0.05)


def test_cli_soc_of_simulated_lfp_cells_from_a_custom_profile(tmp_path: Path) -> None:
    """LFP's plateau: on the simulator the OCV is clean, so even there the estimate holds; see docs/estimator.md."""
    text = (Path(__file__).resolve().parents[1] / "profiles" / "quick-grade.toml").read_text()
    profile = tmp_path / "lfp-quick.toml"
    profile.write_text(text.replace('cell_type = "nmc-18650-2.5ah"', 'cell_type = "lfp-18650-1.5ah"')
                       .replace('name = "quick-grade"', 'name = "lfp-quick"'))
    rows = measure_and_evaluate(tmp_path, str(profile), 2)
    true_soc = [cell.state.soc for cell in make_tray(2, 0, "lfp").cells]
    assert [row["soc_source"] for row in rows] == ["ocv", "ocv"]
    assert [row["soc"] for row in rows] == pytest.approx(true_soc, abs=0.05)
