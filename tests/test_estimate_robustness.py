"""Cold and warm cells: fits that do not collapse, fits that are flagged, temperature per part, guarded predictions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench.estimate import calibrate, evaluate, fit_ecm, load_model
from bench.estimate.analysis import (
    ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL,
    ACTIVATION_ENERGY_OHMIC_J_PER_MOL,
    analyse,
    arrhenius_factor,
)
from bench.estimate.circuits import parse_circuit
from bench.estimate.fit import initial_values, levenberg_marquardt
from bench.estimate.model import SohModel
from bench.estimate.plausibility import arc_time_constants_s, check_fit
from bench.estimate.soh import feature_names
from bench.estimate.spectra import as_block
from bench.estimate.spectrum_features import abs_z_at, high_frequency_intercept_ohm
from bench.estimate.synthetic import REFERENCE_R0_OHM, synthetic_batch

CIRCUIT = parse_circuit("L-R0-RQ-RQ-W")
FREQUENCY_HZ = np.logspace(np.log10(1050.0), -1, 21)  # the BT4560 sweep of the quick-grade profile


def spectra_of(batch) -> tuple[np.ndarray, np.ndarray]:
    n = batch.n_records
    return (
        np.asarray(batch.frequency_hz).reshape(n, -1),
        (np.asarray(batch.z_real_ohm) + 1j * np.asarray(batch.z_imag_ohm)).reshape(n, -1),
    )


def cold_cell_spectrum(temperature_c: float) -> np.ndarray:
    """A 25 °C cell (arcs at about 300 Hz and 5 Hz) taken to temperature_c by Arrhenius factors.

    The arcs' capacitances stay, so their time constants grow with their resistances and
    the slow arc slides toward (and at -10 °C nearly off) the bottom of the window.
    """
    ohmic = 1 / arrhenius_factor(np.array([temperature_c]), ACTIVATION_ENERGY_OHMIC_J_PER_MOL)[0]
    ct = 1 / arrhenius_factor(np.array([temperature_c]), ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL)[0]
    r1, r2 = 0.010 * ct, 0.020 * ct
    q1 = (1 / (2 * np.pi * 300.0)) ** 0.9 / 0.010
    q2 = (1 / (2 * np.pi * 5.0)) ** 0.85 / 0.020
    params = np.array([[2e-7, 0.030 * ohmic, r1, q1, 0.9, r2, q2, 0.85, 0.004 * ohmic]])
    return CIRCUIT.impedance(params, FREQUENCY_HZ)[0], params[0]


# ---------------------------------------------------------------- fit robustness


def test_cold_spectra_are_fitted_without_collapse() -> None:
    temperatures = np.array([-10.0, -5.0, 0.0, 5.0, 15.0, 25.0])
    rng = np.random.default_rng(3)
    z, truth = zip(*(cold_cell_spectrum(t) for t in temperatures))
    z = np.array(z)
    z = z + 0.003 * np.abs(z) * (rng.normal(size=z.shape) + 1j * rng.normal(size=z.shape))
    fit = fit_ecm(FREQUENCY_HZ, z)
    assert np.all(fit.rel_rmse < 0.01), fit.rel_rmse
    block = as_block(FREQUENCY_HZ, z)
    check = check_fit(CIRCUIT, fit.params, np.full(len(z), 0.1), np.full(len(z), 1050.0), np.abs(z).mean(axis=1))
    assert not check.implausible.any()
    truth = np.array(truth)
    for name in ("r0_ohm", "r1_ohm", "r2_ohm"):
        np.testing.assert_allclose(fit.param(name), truth[:, CIRCUIT.index(name)], rtol=0.15, err_msg=name)
    assert block.n_valid.min() == len(FREQUENCY_HZ)


def test_the_old_single_start_collapses_where_the_fit_does_not() -> None:
    """The cold spectrum defeats the old starting guess (arcs placed around the largest -Im), not fit_ecm."""
    z, truth = cold_cell_spectrum(-5.0)
    block = as_block(FREQUENCY_HZ, z[None, :])
    old = initial_values(CIRCUIT, block, (0.15,))[0]
    u, cost, _, _ = levenberg_marquardt(CIRCUIT, CIRCUIT.to_internal(old), block)
    old_params = CIRCUIT.to_physical(u)
    new = fit_ecm(FREQUENCY_HZ, z[None, :])
    new_cost = np.sum(np.abs(new.z_fit[0] - z) ** 2) / np.mean(np.abs(z)) ** 2
    assert new_cost <= cost[0] + 1e-12
    np.testing.assert_allclose(new.param("r2_ohm")[0], truth[CIRCUIT.index("r2_ohm")], rtol=0.05)
    assert old_params.shape == (1, CIRCUIT.n_params)


def test_synthetic_cold_batch_fits_every_record() -> None:
    batch, _ = synthetic_batch(60, seed=4, temperature_c_range=(-10.0, 0.0))
    f, z = spectra_of(batch)
    fit = fit_ecm(f, z)
    assert np.all(fit.rel_rmse < 0.01)
    a = analyse(batch)
    assert a.fit_ok.all(), [p for p in a.fit_problems if p]


# ---------------------------------------------------------------- guards on the fit


def test_implausible_parameters_are_flagged() -> None:
    _, good = cold_cell_spectrum(25.0)
    rows = np.tile(good, (4, 1))
    rows[1, CIRCUIT.index("q2")] *= 1e6  # slow arc's peak five decades below the window
    rows[2, CIRCUIT.index("r1_ohm")] = 1e-9  # fast arc collapsed
    rows[3, CIRCUIT.index("alpha2")] = 0.3  # exponent on its lower bound
    check = check_fit(CIRCUIT, rows, np.full(4, 0.1), np.full(4, 1050.0), np.full(4, 0.05))
    assert check.implausible.tolist() == [False, True, True, True]
    assert check.tau_outside_window[1] and not check.tau_outside_window[[0, 3]].any()
    assert check.collapsed.tolist() == [False, False, True, False]
    assert check.alpha_on_bound.tolist() == [False, False, False, True]
    assert check.reasons(0) == [] and "decade" in check.reasons(1)[0]
    tau = arc_time_constants_s(CIRCUIT, rows[:1])
    np.testing.assert_allclose(tau[0], [1 / (2 * np.pi * 300.0), 1 / (2 * np.pi * 5.0)], rtol=1e-9)


def test_spectra_the_circuit_cannot_pin_down_are_not_fed_to_the_model() -> None:
    """Record 0 ends in a blocking capacitance (the fit's second arc runs off to 1e11 ohm, far outside the
    window); record 1 has a negative low-frequency loop (the circuit misfits it by > 5 %). Both are flagged,
    their R0 comes from the high-frequency intercept, their arc features are left out, and a warning says so."""
    batch, _ = synthetic_batch(12, seed=5)
    f, z = spectra_of(batch)
    s = 2j * np.pi * f[0]

    def arc(r_ohm: float, f_peak_hz: float, alpha: float = 0.95) -> np.ndarray:
        return r_ohm / (1 + (s / (2 * np.pi * f_peak_hz)) ** alpha)

    z[0] = 0.0012 + arc(0.001, 100.0) + 1 / (s * 50.0)
    z[1] = 0.0012 + arc(0.001, 100.0) - arc(0.0006, 1.0, 1.0)
    batch = dataclasses.replace(batch, z_real_ohm=z.real, z_imag_ohm=z.imag, temperature_c=np.full(12, 25.0))
    a = analyse(batch)
    assert not a.fit_ok[:2].any() and a.fit_ok[2:].all()
    assert "outside the measured frequencies" in " ".join(a.fit_problems[0])
    assert "misfit" in " ".join(a.fit_problems[1])
    assert list(a.r0_source[:3]) == ["intercept", "intercept", "fit"]
    assert np.isnan(a.r_arc_25_ohm[:2]).all() and np.isfinite(a.r_arc_25_ohm[2:]).all()
    np.testing.assert_allclose(a.r0_25_ohm[:2], 0.0012, rtol=0.05)
    est = evaluate(batch)
    for i in (0, 1):
        assert any("fit not used" in w and "intercept" in w for w in est.warnings[i])
    assert not any("fit not used" in w for ws in est.warnings[2:] for w in ws)


# ---------------------------------------------------------------- temperature per part


def test_activation_energies_are_applied_per_part() -> None:
    assert ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL > 2 * ACTIVATION_ENERGY_OHMIC_J_PER_MOL
    t = np.array([-10.0, 25.0, 45.0, np.nan])
    ohmic = arrhenius_factor(t, ACTIVATION_ENERGY_OHMIC_J_PER_MOL)
    ct = arrhenius_factor(t, ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL)
    assert ohmic[1] == ct[1] == ohmic[3] == 1.0  # at 25 °C, and without a temperature, nothing changes
    assert ct[0] < ohmic[0] < 1 < ohmic[2] < ct[2]
    # the estimator refers each part back with its own energy: R0 and the arcs at 25 °C come out
    # the same for cells measured from -10 to 45 °C
    batch, truth = synthetic_batch(80, seed=6, temperature_c_range=(-10.0, 45.0))
    a = analyse(batch)
    temperature = np.asarray(batch.temperature_c)
    r0_25 = truth.params[:, CIRCUIT.index("r0_ohm")] * arrhenius_factor(temperature, ACTIVATION_ENERGY_OHMIC_J_PER_MOL)
    r2_25 = truth.params[:, CIRCUIT.index("r2_ohm")] * arrhenius_factor(temperature, ACTIVATION_ENERGY_CHARGE_TRANSFER_J_PER_MOL)
    # (on warm cells the fast arc shrinks toward the noise and trades a little resistance with R0)
    r0_error = np.abs(a.r0_25_ohm / r0_25 - 1)
    r2_error = np.abs(a.r_arc_25_ohm[:, 1] / r2_25 - 1)
    assert np.median(r0_error) < 0.02 and r0_error.max() < 0.15
    assert np.nanmedian(r2_error) < 0.05 and np.nanmax(r2_error) < 0.25
    # with one energy for both parts the arcs would scatter by the ratio of the two factors
    cold = temperature < 0
    one_energy = truth.params[:, CIRCUIT.index("r2_ohm")] * arrhenius_factor(temperature, ACTIVATION_ENERGY_OHMIC_J_PER_MOL)
    assert np.all(one_energy[cold] > 1.5 * r2_25[cold])


def test_fallback_bias_does_not_depend_on_temperature() -> None:
    """The synthetic cells age R0 differently from the fallback's rule of thumb, so the fallback has a bias of
    its own; what temperature must not do is change it (one activation energy for all parts moved it by
    about 15 points between cold and warm cells)."""
    batch, truth = synthetic_batch(150, seed=7, temperature_c_range=(-10.0, 45.0))
    est = evaluate(batch)
    t = np.asarray(batch.temperature_c)
    err = est.soh - np.minimum(truth.soh, 1.0)
    bias = [np.mean(err[(t >= lo) & (t < hi)]) for lo, hi in ((-10, 5), (5, 25), (25, 45))]
    assert max(bias) - min(bias) < 0.03, bias


# ---------------------------------------------------------------- spectrum features without a fit


def test_intercept_and_abs_z_read_off_the_measured_points() -> None:
    z, params = cold_cell_spectrum(25.0)
    block = as_block([FREQUENCY_HZ, FREQUENCY_HZ[10:]], [z, z[10:]])  # the second lacks the high frequencies
    intercept = high_frequency_intercept_ohm(block)
    assert params[1] < intercept[0] < params[1] * 1.1  # R0 plus what is left of the fast arc at the crossing
    assert intercept[1] == pytest.approx(z[10].real)  # no crossing: the highest measured real part
    at = abs_z_at(block, np.array([1000.0, 10.0, 0.1, 1e4]))
    exact = np.abs(CIRCUIT.impedance(params[None, :], np.array([1000.0, 10.0, 0.1]))[0])
    np.testing.assert_allclose(at[0, :3], exact, rtol=0.01)
    assert np.isnan(at[0, 3]) and np.isnan(at[1, 0]) and np.isfinite(at[1, 2])


# ---------------------------------------------------------------- guarded predictions


def flat_model(intercept: float, **kw) -> SohModel:
    k = len(feature_names())
    return SohModel(feature_names(), (0.0,) * k, (1.0,) * k, (0.0,) * k, intercept, -0.03, 0.03, **kw)


def test_predictions_outside_0_to_120_percent_are_graded_retest() -> None:
    batch, _ = synthetic_batch(6, seed=8)
    for value in (1.5, -0.1):
        est = evaluate(batch, flat_model(value))
        assert list(est.grade) == ["retest"] * 6
        assert np.isnan(est.soh).all() and np.isnan(est.residual_value).all()
        assert all(any("not credible" in w and f"{100 * value:.0f} %" in w for w in ws) for ws in est.warnings)
    est = evaluate(batch, flat_model(0.95))
    assert "retest" not in set(est.grade) and np.allclose(est.soh, 0.95)


def test_model_stores_its_training_range_and_widens_outside_it(tmp_path: Path) -> None:
    train, _ = synthetic_batch(60, seed=9, with_reference=True)
    model, _ = calibrate(train, n_folds=3)
    k = len(feature_names())
    assert len(model.feature_low) == len(model.feature_high) == k
    assert all(lo <= hi for lo, hi in zip(model.feature_low, model.feature_high))
    path = tmp_path / "model.json"
    model.save(path)
    assert json.loads(path.read_text())["version"] == 2
    model = load_model(path)
    test, _ = synthetic_batch(20, seed=10)
    inside = evaluate(test, model)
    assert not any("calibration range" in w for ws in inside.warnings for w in ws)
    # a cell far colder than any in training: features outside the range, clipped, interval widened
    cold = dataclasses.replace(test, temperature_c=np.full(20, -30.0))
    est = evaluate(cold, model)
    flagged = [any("outside the calibration range" in w and "inv_temperature_rel" in w for w in ws) for ws in est.warnings]
    assert all(flagged)
    width_in = np.mean(inside.soh_high - inside.soh_low)
    width_out = np.mean(est.soh_high - est.soh_low)
    assert width_out == pytest.approx(2 * width_in, rel=1e-6)
    assert np.all((est.soh > 0.3) & (est.soh < 1.2))  # clipped features cannot run away


def test_a_version_1_model_is_refused_with_one_line(tmp_path: Path) -> None:
    train, _ = synthetic_batch(30, seed=11, with_reference=True)
    model, _ = calibrate(train, n_folds=3)
    body = json.loads(model.to_json())
    body["version"] = 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(body))
    with pytest.raises(Exception) as info:
        load_model(path)
    assert "re-run `bench calibrate`" in str(info.value) and "\n" not in str(info.value)
