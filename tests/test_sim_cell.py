"""The simulated cell and tray: OCV, capacity, impedance shape, ageing, reproducibility, source control."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.sim.cell import LFP, NMC, CellParameters, CellState, impedance_ohm, ocv_v, step_cell, terminal_voltage_v
from drivers.sim.tray import make_tray


@pytest.mark.parametrize("chemistry", [NMC, LFP])
def test_ocv_is_monotone_and_spans_the_voltage_window(chemistry) -> None:
    soc = np.linspace(0.0, 1.0, 501)
    v = ocv_v(chemistry, soc)
    assert np.all(np.diff(v) > 0)
    assert v[0] == pytest.approx(chemistry.min_voltage_v)
    assert v[-1] == pytest.approx(chemistry.max_voltage_v)
    assert float(ocv_v(chemistry, -0.01)) < chemistry.min_voltage_v  # over-discharge keeps falling


def test_lfp_has_a_flat_plateau_and_nmc_does_not() -> None:
    mid = np.array([0.3, 0.7])
    assert np.ptp(ocv_v(LFP, mid)) < 0.06
    assert np.ptp(ocv_v(NMC, mid)) > 0.2


def _cell(soh: float, soc: float = 1.0) -> tuple[CellParameters, CellState]:
    params = CellParameters.aged(NMC, soh, np.ones(4))
    return params, CellState(soc=soc, v_rc1_v=0.0, v_rc2_v=0.0, temperature_c=25.0, ambient_c=25.0)


@pytest.mark.parametrize("soh", [0.65, 0.9])
def test_c5_discharge_delivers_about_the_capacity(soh: float) -> None:
    params, state = _cell(soh)
    current_a = -params.capacity_ah / 5
    delivered_ah, dt_s = 0.0, 10.0
    while terminal_voltage_v(params, state, current_a) > NMC.min_voltage_v and delivered_ah < 2 * params.capacity_ah:
        step_cell(params, state, current_a, dt_s)
        delivered_ah += -current_a * dt_s / 3600
    assert delivered_ah == pytest.approx(params.capacity_ah, rel=0.05)
    assert params.capacity_ah == pytest.approx(NMC.nominal_capacity_ah * soh)


def test_impedance_has_two_capacitive_arcs_a_diffusion_tail_and_inductance() -> None:
    params, _ = _cell(0.9, soc=0.5)
    f = np.logspace(np.log10(0.1), np.log10(1050), 60)
    z = impedance_ohm(params, f, soc=0.5, temperature_c=25.0)
    assert z.shape == f.shape
    assert np.all(np.diff(z.real) < 0)  # real part grows as the frequency falls
    assert z.real.min() > params.r0_ohm * 0.99  # series resistance is the floor
    assert np.all(z.imag[f < 500] < 0)  # capacitive below the inductive corner
    z_hf = impedance_ohm(params, 1e5, soc=0.5, temperature_c=25.0)
    assert z_hf.imag > 0  # the series inductance shows at high frequency
    # two arcs: -Im(Z) has two local maxima over the log-frequency axis before the Warburg tail
    minus_imag = -impedance_ohm(params, np.logspace(-1, 4, 400), soc=0.5, temperature_c=25.0).imag
    peaks = np.flatnonzero((minus_imag[1:-1] > minus_imag[:-2]) & (minus_imag[1:-1] > minus_imag[2:]))
    assert len(peaks) == 2
    tail = impedance_ohm(params, np.array([0.1, 0.2]), soc=0.5, temperature_c=25.0)
    assert -tail.imag[0] > -tail.imag[1] * 0.9  # the Warburg tail rises again towards low frequency


def test_older_cell_has_larger_resistance_and_colder_cell_too() -> None:
    young, _ = _cell(0.98)
    old, _ = _cell(0.65)
    assert old.r0_ohm > young.r0_ohm * 1.5
    z_young = impedance_ohm(young, 1.0, soc=0.5, temperature_c=25.0)
    z_old = impedance_ohm(old, 1.0, soc=0.5, temperature_c=25.0)
    assert z_old.real > z_young.real
    z_cold = impedance_ohm(young, 1.0, soc=0.5, temperature_c=5.0)
    assert z_cold.real > z_young.real * 1.2


def test_tray_is_reproducible_and_spread() -> None:
    first = make_tray(32, seed=7)
    second = make_tray(32, seed=7)
    other = make_tray(32, seed=8)
    soh = np.array([c.true_soh for c in first.cells])
    assert soh.tolist() == [c.true_soh for c in second.cells]
    assert soh.tolist() != [c.true_soh for c in other.cells]
    assert soh.min() >= 0.6 and soh.max() <= 1.0 and np.ptp(soh) > 0.25
    assert [c.slot for c in first.cells] == list(range(1, 33))
    # a cell is the same cell whatever the tray size
    assert make_tray(3, seed=7).cells[2].true_soh == first.cells[2].true_soh
    socs = [c.state.soc for c in first.cells]
    assert min(socs) >= 0.3 and max(socs) <= 0.6
    temps = [c.state.temperature_c for c in first.cells]
    assert 23.0 < min(temps) and max(temps) < 27.0
    # resistance growth follows ageing across the tray (spread included)
    r0 = np.array([c.r0_ohm for c in first.cells])
    assert np.corrcoef(soh, r0)[0, 1] < -0.8


def test_lfp_tray_uses_lfp_parameters() -> None:
    tray = make_tray(4, seed=1, chemistry="lfp")
    assert all(c.chemistry is LFP for c in tray.cells)
    assert all(c.capacity_ah <= 1.5 for c in tray.cells)
    with pytest.raises(ValueError, match="unknown chemistry"):
        make_tray(4, seed=1, chemistry="nca")


def test_current_source_clamps_into_cv_at_its_voltage_limit() -> None:
    tray = make_tray(1, seed=0)
    source = tray.add_source("smu")
    source.mode, source.level, source.voltage_limit_v, source.output_on = "CURR", 1.0, 3.9, True
    tray.advance(1800.0)
    readback = tray.source_readback(source)
    assert readback.in_compliance
    assert readback.voltage_v == pytest.approx(3.9, abs=2e-3)
    assert 0.0 < readback.current_a < 1.0
    source.output_on = False
    tray.advance(1801.0)
    assert tray.source_readback(source).current_a == 0.0


def test_voltage_source_limits_its_current_and_discharge_lowers_soc() -> None:
    tray = make_tray(2, seed=0)
    cell = tray.cells[0]
    soc_before = cell.state.soc
    source = tray.add_source("smu")
    source.mode, source.level, source.current_limit_a, source.output_on = "VOLT", 3.0, 0.5, True
    tray.advance(600.0)
    readback = tray.source_readback(source)
    assert readback.in_compliance and readback.current_a == pytest.approx(-0.5)
    assert cell.state.soc == pytest.approx(soc_before - 0.5 * 600 / 3600 / cell.capacity_ah, rel=1e-3)
    assert tray.cells[1].state.current_a == 0.0  # the unconnected cell rested


def test_over_temperature_fault_heats_the_cell_past_60_c() -> None:
    tray = make_tray(1, seed=0)
    tray.cells[0].over_temp = True
    source = tray.add_source("smu")
    source.mode, source.level, source.voltage_limit_v, source.output_on = "CURR", -0.5, 5.0, True
    tray.advance(900.0)
    assert tray.temperature_c() > 60.0


def test_time_step_is_elementwise_over_arrays_of_states() -> None:
    params = CellParameters.aged(NMC, 0.8, np.ones(4))
    socs, currents = np.array([0.2, 0.5, 0.8]), np.array([-1.0, 0.0, 0.5])
    batch = CellState(soc=socs.copy(), v_rc1_v=np.zeros(3), v_rc2_v=np.zeros(3), temperature_c=np.full(3, 25.0),
                      ambient_c=25.0)
    for _ in range(30):
        step_cell(params, batch, currents, 10.0)
    for k in range(3):
        single = CellState(soc=float(socs[k]), v_rc1_v=0.0, v_rc2_v=0.0, temperature_c=25.0, ambient_c=25.0)
        for _ in range(30):
            step_cell(params, single, float(currents[k]), 10.0)
        assert batch.soc[k] == pytest.approx(single.soc)
        assert batch.v_rc1_v[k] == pytest.approx(single.v_rc1_v)
        assert batch.temperature_c[k] == pytest.approx(single.temperature_c)
    voltages = terminal_voltage_v(params, batch, currents)
    assert voltages.shape == (3,) and voltages[0] < voltages[1] < voltages[2]


def test_default_tray_is_unchanged_bit_for_bit() -> None:
    # pinned draws of seed 0: the demo and the end-to-end tests read the truth by rebuilding this tray
    expected = [
        (0.9558955165112537, 0.5363436593616493, 25.590877114338955, 25.59133894684183, 0.03171425720653692),
        (0.6323296156692749, 0.3355025055788231, 24.705361347091078, 24.711469629484494, 0.0565750124793823),
        (0.9579890963159354, 0.3960846806535252, 24.86864611600458, 24.59155404897779, 0.03401791976482134),
    ]
    for tray in (make_tray(3, seed=0), make_tray(3, seed=0, soc_range=(0.30, 0.60))):
        got = [(c.true_soh, c.state.soc, c.state.temperature_c, c.state.ambient_c, c.r0_ohm) for c in tray.cells]
        assert got == expected


AMBIENT_C = (-10.0, 45.0)
SOC = (0.1, 0.9)


def test_tray_with_ranges_is_reproducible_spans_them_and_keeps_each_cell() -> None:
    spread = make_tray(64, seed=7, ambient_c_range=AMBIENT_C, soc_range=SOC)
    again = make_tray(64, seed=7, ambient_c_range=AMBIENT_C, soc_range=SOC)
    default = make_tray(64, seed=7)
    temps = np.array([c.state.temperature_c for c in spread.cells])
    socs = np.array([c.state.soc for c in spread.cells])
    assert temps.tolist() == [c.state.temperature_c for c in again.cells]
    assert socs.tolist() == [c.state.soc for c in again.cells]
    assert np.all((temps >= -10.0) & (temps <= 45.0)) and temps.min() < 0.0 and temps.max() > 35.0
    assert np.all((socs >= 0.1) & (socs <= 0.9)) and socs.min() < 0.2 and socs.max() > 0.8
    # the thermal state starts at the drawn ambient (the cell has soaked there)
    assert temps.tolist() == [c.state.ambient_c for c in spread.cells]
    # the same cells as on the default tray: SoH and every aged parameter
    assert [c.params for c in spread.cells] == [c.params for c in default.cells]
    assert [c.true_soh for c in spread.cells] == [c.true_soh for c in default.cells]
    # a cell is the same cell whatever the tray size, ranges included
    small = make_tray(5, seed=7, ambient_c_range=AMBIENT_C, soc_range=SOC)
    assert small.cells[4].state == spread.cells[4].state
    # only the start SOC moves with soc_range: the cells' ranks stay
    assert np.array_equal(np.argsort(socs), np.argsort([c.state.soc for c in default.cells]))


def test_resting_cell_stays_at_its_ambient() -> None:
    tray = make_tray(2, seed=4, ambient_c_range=(-10.0, -10.0))
    tray.advance(3600.0)
    assert tray.temperature_c() == pytest.approx(-10.0, abs=1e-9)


def test_cold_cell_shows_a_larger_r0_in_its_spectrum_than_the_same_cell_warm() -> None:
    from bench.estimate import fit_ecm
    from drivers.sim.cell import arrhenius_factor

    frequency_hz = np.logspace(np.log10(1050.0), -1.0, 26)  # the BT4560's sweep
    spectra, true_r0 = [], []
    for ambient_c in (-10.0, 40.0):
        tray = make_tray(3, seed=3, ambient_c_range=(ambient_c, ambient_c))
        tray.connected_slot = 3
        spectra.append([tray.impedance_ohm(f) for f in frequency_hz])
        cell = tray.cells[2]
        true_r0.append(cell.r0_ohm * float(arrhenius_factor(ambient_c, cell.chemistry.activation_r0_j_per_mol)))
    fit = fit_ecm(frequency_hz, np.array(spectra))
    r0_cold, r0_warm = fit.param("r0_ohm")
    assert fit.converged.all()
    assert r0_cold > 2.0 * r0_warm
    assert r0_cold == pytest.approx(true_r0[0], rel=0.05) and r0_warm == pytest.approx(true_r0[1], rel=0.05)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"ambient_c_range": (45.0, -10.0)}, "low end is above the high end"),
        ({"ambient_c_range": (-40.0, 10.0)}, "-30..60 C"),
        ({"ambient_c_range": (0.0, 61.0)}, "-30..60 C"),
        ({"soc_range": (0.2, 1.2)}, "0..1"),
        ({"soc_range": (-0.1, 0.5)}, "0..1"),
        ({"soc_range": (0.7, 0.6)}, "low end is above the high end"),
        ({"soc_range": (float("nan"), 0.5)}, "finite"),
    ],
)
def test_bad_ranges_are_one_line_value_errors(options: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        make_tray(2, seed=0, **options)
    assert "\n" not in str(info.value)
