"""Is a fitted circuit believable? Checks that need no model, only the fit and the measured window.

A least-squares fit can end in a local minimum that matches the spectrum passably while
its parameters mean nothing: an arc whose resistance collapsed to zero and whose place a
CPE with exponent 0.4 took, or an arc whose time constant sits decades outside the
frequencies that were measured (nothing in the data pins such an arc down, so its
resistance is free to run off). Features built on such parameters must not reach the
SoH model unnoticed; ``fit_ecm`` also uses these checks to decide which spectra get
further starting points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.estimate.circuits import ALPHA_MIN, Circuit

# An arc whose peak frequency 1/(2 pi tau) lies more than this many decades outside the
# measured window is not determined by the data.
TAU_WINDOW_DECADES = 1.0
# An arc resistance below this share of the spectrum's mean |Z| has collapsed
# (it no longer describes any feature of the spectrum).
COLLAPSED_SHARE = 1e-3
# A CPE exponent this close to its lower bound is pinned there by the optimiser, not by the
# data (an exponent of 1 is an ideal capacitor: physical, so not flagged).
ALPHA_BOUND_MARGIN = 0.02


@dataclass(frozen=True)
class FitPlausibility:
    """Per spectrum (n,) bool flags; ``implausible`` is their union."""

    tau_outside_window: np.ndarray
    collapsed: np.ndarray
    alpha_on_bound: np.ndarray

    @property
    def implausible(self) -> np.ndarray:
        return self.tau_outside_window | self.collapsed | self.alpha_on_bound

    def reasons(self, i: int) -> list[str]:
        """Readable reasons for spectrum i (empty when plausible)."""
        out = []
        if self.tau_outside_window[i]:
            out.append(f"an arc's time constant lies more than {TAU_WINDOW_DECADES:g} decade outside the measured frequencies")
        if self.collapsed[i]:
            out.append("an arc resistance collapsed to zero")
        if self.alpha_on_bound[i]:
            out.append(f"a CPE exponent sits on its bound ({ALPHA_MIN:g})")
        return out


def arc_time_constants_s(circuit: Circuit, params: np.ndarray) -> np.ndarray:
    """tau_k = (R_k Q_k)^(1/alpha_k) of every RQ arc, (n, n_rq); NaN where parameters are missing."""
    n_rq = circuit.elements.count("RQ")
    out = np.full((len(params), n_rq), np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for k in range(n_rq):
            r = params[:, circuit.index(f"r{k + 1}_ohm")]
            q = params[:, circuit.index(f"q{k + 1}")]
            a = params[:, circuit.index(f"alpha{k + 1}")]
            out[:, k] = np.exp(np.log(r * q) / a)
    return out


def check_fit(
    circuit: Circuit, params: np.ndarray, f_min_hz: np.ndarray, f_max_hz: np.ndarray, scale_ohm: np.ndarray
) -> FitPlausibility:
    """Flag fits (n, p) whose parameters are not pinned down by spectra measured over [f_min_hz, f_max_hz].

    scale_ohm: (n,) mean |Z| of each spectrum, the yardstick for "collapsed". Rows of NaN
    parameters (no fit) are not flagged here; they have no features to protect.
    """
    params = np.asarray(params, dtype=float)
    fitted = np.all(np.isfinite(params), axis=1)
    tau = arc_time_constants_s(circuit, params)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_arc = 1 / (2 * np.pi * tau)
        margin = 10.0**TAU_WINDOW_DECADES
        outside = np.any((f_arc < f_min_hz[:, None] / margin) | (f_arc > f_max_hz[:, None] * margin), axis=1)
    # arcs only: a Warburg coefficient near zero is often right (a large slow arc hides the
    # diffusion tail above 0.1 Hz on cold cells) and no feature is built on it
    resistance_cols = [i for i, name in enumerate(circuit.names) if name.startswith("r") and name != "r0_ohm"]
    with np.errstate(invalid="ignore"):
        collapsed = np.any(params[:, resistance_cols] < COLLAPSED_SHARE * scale_ohm[:, None], axis=1) if resistance_cols else np.zeros(len(params), bool)
    alpha_cols = [i for i, name in enumerate(circuit.names) if name.startswith("alpha")]
    with np.errstate(invalid="ignore"):
        on_bound = np.any(params[:, alpha_cols] < ALPHA_MIN + ALPHA_BOUND_MARGIN, axis=1) if alpha_cols else np.zeros(len(params), bool)
    return FitPlausibility(outside & fitted, collapsed & fitted, on_bound & fitted)
