"""Features, grading, SoH methods, calibration by cell, model files and user errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench.estimate import EstimateInputError, calibrate, discharge_features, evaluate, load_model, pulse_features
from bench.estimate.grading import grade_records
from bench.estimate.synthetic import GRADING_RULES, synthetic_batch
from bench.records import RaggedSeries


def test_constant_current_discharge_capacity_is_current_times_time() -> None:
    t1 = np.arange(0, 3600.01, 10.0)
    t2 = np.arange(0, 1800.01, 1.0)
    series = RaggedSeries.from_lists(
        [t1, np.zeros(0), t2], [4.1 - 0.9 * t1 / 3600, np.zeros(0), np.full_like(t2, 3.6)],
        [np.full_like(t1, -2.0), np.zeros(0), np.full_like(t2, -1.0)],
    )
    d = discharge_features(series)
    np.testing.assert_allclose(d.capacity_ah[[0, 2]], [2.0, 0.5])
    np.testing.assert_allclose(d.energy_wh[[0, 2]], [2.0 * (4.1 + 3.2) / 2, 0.5 * 3.6])
    assert np.isnan(d.capacity_ah[1]) and d.end_voltage_v[0] == pytest.approx(3.2)


def test_pulse_resistance_reads_one_second_after_the_edge() -> None:
    t = np.arange(0, 20, 0.1)
    i = np.where((t >= 5) & (t < 15), -3.0, 0.0)
    v = 3.7 + 0.05 * i + np.where(t >= 5, 0.01 * i * np.minimum(t - 5, 10), 0.0)
    series = RaggedSeries.from_lists([t, np.zeros(0), t], [v, np.zeros(0), v], [i, np.zeros(0), 2 * i])
    p = pulse_features(series)
    np.testing.assert_allclose(p.dc_resistance_ohm[[0, 2]], [0.06, 0.03], rtol=1e-6)
    assert np.isnan(p.dc_resistance_ohm[1])


def test_grades_follow_thresholds_and_value_rule() -> None:
    soh = np.array([0.95, 0.95, 0.85, 0.75, 0.60, 0.95, np.nan])
    growth = np.array([1.2, 1.4, 1.5, 1.9, 1.0, np.nan, 1.0])
    retest = np.array([False, False, False, False, False, True, False])
    g = grade_records(soh, growth, np.full(7, "p"), {"p": GRADING_RULES}, np.full(7, 50.0), np.full(7, 3.6), retest)
    assert list(g.grade) == ["A", "B", "B", "C", "recycle", "retest", "retest"]
    assert g.residual_value[0] == pytest.approx(0.95 * 50 * 3.6 / 1000 * 70.0)
    assert g.residual_value[4] == pytest.approx(0.60 * 50 * 3.6 / 1000 * 2.0)
    assert np.isnan(g.residual_value[5]) and np.isnan(g.residual_value[6])
    assert set(g.currency) == {"EUR"}


def test_fallback_is_wide_and_labelled() -> None:
    batch, truth = synthetic_batch(60, seed=4)
    rows = evaluate(batch).to_rows()
    assert {r["method"] for r in rows} == {"fallback"}
    assert all("uncalibrated: low confidence" in r["warnings"] for r in rows)
    assert all(r["soh_low"] <= r["soh"] <= r["soh_high"] <= 1.05 for r in rows)
    assert all(r["soh_high"] - r["soh_low"] >= 0.2 for r in rows)  # deliberately wide
    growth = np.array([r["resistance_growth"] for r in rows])
    soh = np.array([r["soh"] for r in rows])
    assert np.all(np.diff(soh[np.argsort(growth)]) <= 1e-12)  # more resistance growth, less SoH
    json.dumps(rows, allow_nan=False)


def test_measured_capacity_wins() -> None:
    batch, truth = synthetic_batch(8, seed=5, with_discharge=True)
    est = evaluate(batch)
    assert set(est.method) == {"measured"}
    np.testing.assert_allclose(est.soh, truth.soh, atol=1e-3)
    np.testing.assert_allclose(est.capacity_ah, truth.soh * batch.nominal_capacity_ah, rtol=1e-3)
    assert not any("uncalibrated" in w for ws in est.warnings for w in ws)


def test_calibrate_then_evaluate_round_trip(tmp_path: Path) -> None:
    train, _ = synthetic_batch(300, seed=1, records_per_cell=3, with_reference=True)
    model, report = calibrate(train, n_folds=5, seed=0)
    assert report.n_cells == 100 and report.n_records == 300
    assert 0.8 <= report.coverage <= 0.97
    assert "MAE" in report.summary() and "coverage" in report.summary()
    path = tmp_path / "model.json"
    model.save(path)
    loaded = load_model(path)
    assert loaded == model
    test, truth = synthetic_batch(300, seed=2)
    est = evaluate(test, loaded)
    assert set(est.method) == {"calibrated"}
    assert np.mean(np.abs(est.soh - truth.soh)) < 0.04
    covered = (truth.soh >= est.soh_low) & (truth.soh <= est.soh_high)
    assert 0.8 <= covered.mean() <= 0.98


def test_folds_never_split_a_cell() -> None:
    from bench.estimate.soh import group_folds

    cells = np.repeat(np.array([f"c{i}" for i in range(20)]), 4)
    folds = group_folds(cells, 5, seed=3)
    for cell in np.unique(cells):
        assert len(set(folds[cells == cell])) == 1
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]


def test_retest_for_incomplete_and_kk_failures() -> None:
    batch, _ = synthetic_batch(4, seed=6)
    status = batch.status.copy()
    status[0] = "aborted"
    reason = batch.status_reason.copy()
    reason[0] = "stopped by SIGINT"
    zi = batch.z_imag_ohm.copy()
    zi[1, 10] = -zi[1, 10]  # a corrupted point
    zr, fr = batch.z_real_ohm.copy(), batch.frequency_hz.copy()
    zr[2], zi[2], fr[2] = np.nan, np.nan, np.nan  # no spectrum
    pulse = RaggedSeries.empty(4)
    batch = dataclasses.replace(batch, status=status, status_reason=reason, z_imag_ohm=zi, z_real_ohm=zr,
                                frequency_hz=fr, pulse=pulse)
    rows = evaluate(batch).to_rows()
    assert [r["grade"] for r in rows[:3]] == ["retest"] * 3
    assert any("aborted: stopped by SIGINT" in w for w in rows[0]["warnings"])
    assert any("Lin-KK" in w for w in rows[1]["warnings"])
    assert any("no spectrum and no discharge" in w for w in rows[2]["warnings"])
    assert all(r["residual_value"] is None for r in rows[:3])
    assert rows[3]["grade"] != "retest" and rows[3]["residual_value"] > 0


def test_calibrate_without_reference_capacity_is_a_user_error() -> None:
    batch, _ = synthetic_batch(50, seed=7)
    with pytest.raises(EstimateInputError, match="reference capacity"):
        calibrate(batch)
    few, _ = synthetic_batch(8, seed=7, with_reference=True)
    with pytest.raises(EstimateInputError, match="10 needed"):
        calibrate(few, n_folds=5)


@pytest.mark.parametrize("content", ["not json at all", "{\"kind\": \"other\"}", "[1, 2]",
                                     "{\"kind\": \"bench.soh-model\", \"version\": 99}",
                                     "{\"kind\": \"bench.soh-model\", \"version\": 1}"])
def test_a_file_that_is_not_a_model_is_a_user_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(EstimateInputError) as info:
        load_model(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_calibrate_without_soc_or_temperature() -> None:
    train, _ = synthetic_batch(60, seed=8, records_per_cell=2, with_reference=True)
    train = dataclasses.replace(train, soc=np.full(60, np.nan))
    model, report = calibrate(train, n_folds=3)
    assert report.n_cells == 30 and np.isfinite(report.mae)
    test, truth = synthetic_batch(50, seed=9)
    est = evaluate(dataclasses.replace(test, soc=np.full(50, np.nan)), model)
    assert np.mean(np.abs(est.soh - truth.soh)) < 0.06


def _take(batch, rows: slice, n: int):
    arrays = {f.name: getattr(batch, f.name)[rows] for f in dataclasses.fields(batch)
              if isinstance(getattr(batch, f.name), np.ndarray)}
    return dataclasses.replace(batch, **arrays, discharge=RaggedSeries.empty(n), pulse=RaggedSeries.empty(n))


def test_empty_batch_and_record_without_any_measurement() -> None:
    batch, _ = synthetic_batch(3, seed=10)
    assert evaluate(_take(batch, slice(0, 0), 0)).to_rows() == []
    one = _take(batch, slice(0, 1), 1)
    one = dataclasses.replace(one, frequency_hz=np.zeros((1, 0)), z_real_ohm=np.zeros((1, 0)), z_imag_ohm=np.zeros((1, 0)))
    row = evaluate(one).to_rows()[0]
    assert row["grade"] == "retest" and row["soh"] is None and row["method"] == "none"
    assert any("no spectrum and no discharge" in w for w in row["warnings"])


def test_dqdv_peak_sits_on_the_voltage_plateau() -> None:
    t = np.linspace(0, 3600, 3601)
    q_frac = t / 3600
    v = np.where(q_frac < 0.2, 4.1 - 2.0 * q_frac, np.where(q_frac < 0.8, 3.7 - 0.1 * (q_frac - 0.2), 3.64 - 2.0 * (q_frac - 0.8)))
    d = discharge_features(RaggedSeries.from_lists([t], [v], [np.full_like(t, -1.0)]))
    assert 3.63 <= d.dqdv_peak_v[0] <= 3.71
    assert d.dqdv_peak_ah_per_v[0] > 5.0  # 0.6 Ah over 60 mV ~ 10 Ah/V, spread over neighbouring bins
