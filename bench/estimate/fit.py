"""Batched equivalent-circuit fitting: thousands of spectra in one Levenberg-Marquardt loop.

Why hand-written: scipy.optimize.least_squares (and impedance.py, which wraps
scipy's curve_fit) solves one problem at a time, so each spectrum pays Python and
setup overhead for every iteration. Here every iteration is a handful of numpy
expressions over all spectra at once: the circuit and its analytic Jacobian are
evaluated for an (n, F) block, the small normal equations are solved with one
``np.linalg.solve`` on an (n, p, p) stack, and each spectrum keeps its own damping,
so a spectrum that needs more iterations does not slow the others down.

Parameters live in an unconstrained space (log for positive values, logistic for CPE
exponents; see ``circuits``), so the fitted circuit is physical by construction.
Initial values are read off each spectrum (ohmic intercept, inductive tail, Warburg
slope, and the arcs placed on the -Im maxima, or below the window where -Im still rises
at the lowest frequency, as on cold cells). Spectra whose fit is suspect (implausible
parameters by ``plausibility.check_fit``, no convergence, misfit) get further starts,
all such spectra in one batch per start; the best is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.estimate.circuits import U_LIMIT, Circuit, parse_circuit
from bench.estimate.plausibility import check_fit
from bench.estimate.spectra import SpectrumBlock, as_block

DEFAULT_CIRCUIT = "L-R0-RQ-RQ-W"
MIN_POINTS = 4


@dataclass(frozen=True)
class EcmFit:
    """Result of ``fit_ecm``: one row per spectrum. Rows without enough points are NaN and not converged."""

    circuit: str
    names: tuple[str, ...]  # parameter names with units: l_h, r0_ohm, r1_ohm, q1, alpha1, ...
    params: np.ndarray  # (n, p)
    z_fit: np.ndarray  # (n, F) complex, on the input frequencies (NaN where the input is missing)
    rel_rmse: np.ndarray  # (n,) sqrt(mean |z - z_fit|^2) / mean |z|
    converged: np.ndarray  # (n,) bool
    iterations: np.ndarray  # (n,) LM iterations of the retained start

    def param(self, name: str) -> np.ndarray:
        """One parameter column by name, e.g. ``fit.param("r0_ohm")``."""
        return self.params[:, self.names.index(name)]


def initial_values(circuit: Circuit, block: SpectrumBlock, fractions: Sequence[float]) -> np.ndarray:
    """Starting parameters (n_starts, n, p) read off each spectrum."""
    f, z, valid = block.frequency_hz, block.z, block.valid
    n = z.shape[0]
    rows = np.arange(n)
    omega = 2 * np.pi * f
    neg_im = np.where(valid, -z.imag, np.nan)
    re = np.where(valid, z.real, np.nan)
    scale = np.nanmean(np.where(valid, np.abs(z), np.nan), axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    log_f = np.where(valid, np.log(f), np.nan)

    top = np.nanargmax(np.where(valid, f, -np.inf), axis=1)
    bottom = np.nanargmin(np.where(valid, f, np.inf), axis=1)

    # R0: real part where the imaginary part crosses zero (inductive -> capacitive); else the
    # highest-frequency real part. Interpolate between the two points around the crossing.
    inductive = valid & (z.imag > 0)
    capacitive = valid & (z.imag <= 0)
    f_cap_top = np.where(capacitive, f, -np.inf).max(axis=1)
    i_cap = np.argmax(np.where(capacitive, f, -np.inf), axis=1)
    f_ind_low = np.where(inductive & (f > f_cap_top[:, None]), f, np.inf).min(axis=1)
    i_ind = np.argmin(np.where(inductive & (f > f_cap_top[:, None]), f, np.inf), axis=1)
    has_cross = np.isfinite(f_ind_low) & np.isfinite(f_cap_top)
    y_c, y_i = z.imag[rows, i_cap], z.imag[rows, i_ind]
    w = np.where(has_cross, y_i / np.where(y_i - y_c != 0, y_i - y_c, 1.0), 0.0)
    r0 = np.where(has_cross, z.real[rows, i_ind] + w * (z.real[rows, i_cap] - z.real[rows, i_ind]), z.real[rows, top])
    min_re = np.nanmin(re, axis=1)
    r0 = np.clip(np.where(np.isfinite(r0), r0, min_re), 0.05 * scale, None)

    # L from the top frequency when it is inductive, else a small value.
    l_h = np.where(z.imag[rows, top] > 0, z.imag[rows, top] / omega[rows, top], 1e-3 * scale / omega[rows, top])
    l_h = np.clip(l_h, 1e-4 * scale / omega[rows, top], None)

    # Arc peak (max -Im in the upper 60 % of the log-frequency span) and the valley below it.
    lo, hi = np.nanmin(log_f, axis=1), np.nanmax(log_f, axis=1)
    upper = valid & (log_f >= (lo + 0.4 * (hi - lo))[:, None])
    peak = np.argmax(np.where(upper, neg_im, -np.inf), axis=1)
    below = valid & (f < f[rows, peak][:, None])
    valley = np.where(below.any(axis=1), np.argmin(np.where(below, neg_im, np.inf), axis=1), bottom)
    above_valley = valid & (f > f[rows, valley][:, None])
    peak = np.where(above_valley.any(axis=1), np.argmax(np.where(above_valley, neg_im, -np.inf), axis=1), peak)
    f_peak = f[rows, peak]

    # Warburg coefficient from the low-frequency tail beyond the valley.
    w_low, w_valley = omega[rows, bottom], omega[rows, valley]
    span = 1 / np.sqrt(w_low) - 1 / np.sqrt(w_valley)
    sigma_tail = (z.real[rows, bottom] - z.real[rows, valley]) / np.where(span > 0, span, np.inf)
    sigma = np.where(
        (bottom != valley) & (sigma_tail > 0), sigma_tail, np.maximum(-z.imag[rows, bottom], 0.01 * scale) * np.sqrt(w_low)
    )
    sigma = np.clip(sigma, 1e-4 * scale * np.sqrt(w_low), None)

    has_w = "W" in circuit.elements or "Q" in circuit.elements
    arc_total = z.real[rows, valley] - r0 - (sigma / np.sqrt(w_valley) if has_w else 0.0)
    arc_total = np.clip(np.where(np.isfinite(arc_total), arc_total, 0.5 * scale), 0.05 * scale, None)

    if "qd" in circuit.names:
        # series CPE tail: start as a Warburg-like 0.6 exponent through the lowest-frequency point
        alpha_d = 0.6
        tail_neg_im_ohm = np.clip(-z.imag[rows, bottom], 1e-3 * scale, None)
        qd = np.sin(alpha_d * np.pi / 2) / (tail_neg_im_ohm * w_low**alpha_d)
    n_rq = circuit.elements.count("RQ")
    alpha0 = 0.8
    starts = []
    for fraction in fractions:
        params = np.zeros((n, circuit.n_params))
        for name, value in (("l_h", l_h), ("r0_ohm", r0), ("sigma_ohm_per_sqrt_s", sigma)):
            if name in circuit.names:
                params[:, circuit.index(name)] = value
        if "qd" in circuit.names:
            params[:, circuit.index("qd")] = qd
            params[:, circuit.index("alphad")] = alpha_d
        if n_rq == 1:
            shares, peaks = [1.0], [f_peak]
        else:
            # first arc small and fast (SEI / contact), later arcs share the rest at lower frequencies
            shares = [fraction] + [(1 - fraction) / (n_rq - 1)] * (n_rq - 1)
            peaks = [f_peak * 10.0 ** (1.5 - 3.0 * k / (n_rq - 1)) for k in range(n_rq)]
        for k in range(n_rq):
            r = arc_total * shares[k]
            tau = 1 / (2 * np.pi * peaks[k])
            params[:, circuit.index(f"r{k + 1}_ohm")] = r
            params[:, circuit.index(f"q{k + 1}")] = tau**alpha0 / r
            params[:, circuit.index(f"alpha{k + 1}")] = alpha0
        starts.append(params)
    return np.stack(starts)


def _arc_peaks(block: SpectrumBlock) -> tuple[np.ndarray, ...]:
    """Per spectrum: the two most prominent -Im maxima (fast and slow arc) and the real parts around them.

    Why: a cold cell's charge-transfer arc grows and slides toward the bottom of the
    window, so "the largest -Im in the upper part of the span" picks its flank and the
    arcs start a decade or more away from where they are. Local maxima of a 3-point
    smoothed -Im over log-frequency find both arcs wherever they sit. Returns
    (f_fast, f_slow, re_fast, re_valley, re_slow, has_two, tail): has_two where two maxima
    were found; tail where one was found and -Im rises again toward the lowest frequency
    (the slow arc then peaks below the window; f_slow is placed there). Elsewhere
    f_fast = f_slow = the one maximum's frequency.
    """
    f, z, valid = block.frequency_hz, block.z, block.valid
    n, width = z.shape
    rows = np.arange(n)[:, None]
    order = np.argsort(np.where(valid, -f, np.inf), axis=1, kind="stable")  # high -> low frequency, invalid last
    fs, zs, vs = f[rows, order], z[rows, order], valid[rows, order]
    y = np.where(vs, -zs.imag, np.nan)
    padded = np.pad(y, ((0, 0), (1, 1)), constant_values=np.nan)
    window = np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]])
    count = np.isfinite(window).sum(axis=0)
    smooth = np.where(count > 0, np.nansum(window, axis=0) / np.maximum(count, 1), np.nan)
    smooth = np.where(vs, smooth, np.nan)
    left = np.pad(smooth, ((0, 0), (1, 0)), constant_values=np.nan)[:, :-1]
    right = np.pad(smooth, ((0, 0), (0, 1)), constant_values=np.nan)[:, 1:]
    with np.errstate(invalid="ignore"):
        is_max = (smooth >= left) & (smooth > right) & (smooth > 0)
    height = np.where(is_max, smooth, -np.inf)
    k_sorted = np.argsort(-height, axis=1, kind="stable")
    k1, k2 = k_sorted[:, 0], k_sorted[:, 1] if width > 1 else k_sorted[:, 0]
    r = np.arange(n)
    has_one = np.isfinite(height[r, k1])
    has_two = has_one & np.isfinite(height[r, k2]) & (np.abs(k1 - k2) >= 2)
    k_fast = np.where(has_two, np.minimum(k1, k2), k1)  # sorted high -> low: smaller index = faster
    k_slow = np.where(has_two, np.maximum(k1, k2), k1)
    between = (np.arange(width)[None, :] > k_fast[:, None]) & (np.arange(width)[None, :] < k_slow[:, None]) & vs
    k_valley = np.where(between.any(axis=1), np.argmin(np.where(between, smooth, np.inf), axis=1), k_fast)
    # One maximum and -Im rising again toward the lowest frequency: the slow arc peaks below
    # the window (a cold cell). Place it half an octave below the lowest frequency.
    k_bottom = np.maximum(vs.sum(axis=1) - 1, 0)
    below = (np.arange(width)[None, :] > k1[:, None]) & vs
    k_dip = np.where(below.any(axis=1), np.argmin(np.where(below, smooth, np.inf), axis=1), k1)
    tail = has_one & ~has_two & (k_dip < k_bottom) & (smooth[r, k_bottom] > 1.2 * smooth[r, k_dip])
    k_valley = np.where(tail, k_dip, k_valley)
    f_slow = np.where(tail, fs[r, k_bottom] / np.sqrt(2.0), fs[r, k_slow])
    # the part of the slow arc inside the window is its high-frequency flank: -Im there is at
    # most about R/2, so 2(-Im at the bottom) is a lower bound for R_slow; so is 2 dRe
    re_slow = np.where(tail, zs.real[r, k_dip] + np.maximum(zs.real[r, k_bottom] - zs.real[r, k_dip], smooth[r, k_bottom]), zs.real[r, k_slow])
    return (
        np.where(has_one, fs[r, k_fast], np.nan),
        np.where(has_one, f_slow, np.nan),
        zs.real[r, k_fast],
        zs.real[r, k_valley],
        re_slow,
        has_two,
        tail,
    )


def peak_starts(circuit: Circuit, block: SpectrumBlock, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Starts (n, p) with the first two RQ arcs placed on the spectrum's -Im maxima.

    Returns (two_peak_start, has_two, tail_start, tail): the first places the arcs on two
    maxima where has_two; the second, where tail, places the slow arc below the window.
    Rows without them hold ``fallback`` (a start from ``initial_values`` that also
    supplies L, R0, the diffusion element and any further arcs). Arc resistances come from
    the real parts: at an arc's -Im maximum Re(Z) has climbed about half the arc, so
    R_fast ~ 2 (Re(peak_fast) - R0) and R_slow ~ 2 (Re(peak_slow) - Re(valley)).
    """
    n = fallback.shape[0]
    if circuit.elements.count("RQ") < 2:
        none = np.zeros(n, dtype=bool)
        return fallback.copy(), none, fallback.copy(), none
    f_fast, f_slow, re_fast, re_valley, re_slow, has_two, tail = _arc_peaks(block)
    scale = np.sum(np.abs(block.z) * block.valid, axis=1) / np.maximum(block.n_valid, 1)
    r0 = fallback[:, circuit.index("r0_ohm")]
    r_fast = np.clip(2.0 * (re_fast - r0), 0.01 * scale, None)
    r_slow = np.clip(2.0 * (re_slow - re_valley), 0.01 * scale, None)
    alpha0 = 0.85
    out = []
    for use in (has_two, tail):
        start = fallback.copy()
        for k, (r, f_pk) in enumerate(((r_fast, f_fast), (r_slow, f_slow))):
            tau = 1 / (2 * np.pi * np.where(use, f_pk, 1.0))
            cols = [circuit.index(f"{name}{k + 1}{suffix}") for name, suffix in (("r", "_ohm"), ("q", ""), ("alpha", ""))]
            start[:, cols[0]] = np.where(use, r, fallback[:, cols[0]])
            start[:, cols[1]] = np.where(use, tau**alpha0 / r, fallback[:, cols[1]])
            start[:, cols[2]] = np.where(use, alpha0, fallback[:, cols[2]])
        if "sigma_ohm_per_sqrt_s" in circuit.names:
            # the arcs now carry the low-frequency real part: start the Warburg small
            col = circuit.index("sigma_ohm_per_sqrt_s")
            start[:, col] = np.where(use, 0.3 * fallback[:, col], fallback[:, col])
        out.append(start)
    return out[0], has_two, out[1], tail


def _residual(z_model: np.ndarray, z: np.ndarray, weight: np.ndarray) -> np.ndarray:
    d = (z_model - z) * weight
    return np.concatenate([d.real, d.imag], axis=1)


def _residual_and_jacobian(
    circuit: Circuit, u: np.ndarray, block: SpectrumBlock, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked real/imaginary weighted residuals (n, 2F) and their Jacobian (n, 2F, p)."""
    z_model, dz = circuit.impedance_and_jacobian(u, block.frequency_hz)
    res = _residual(z_model, block.z, weight)
    jw = dz * weight[:, :, None]
    return res, np.concatenate([jw.real, jw.imag], axis=1)


def _solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve of (n, p, p) x = (n, p); falls back to least squares row by row if one is singular."""
    try:
        return np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(system, rhs)])


def levenberg_marquardt(
    circuit: Circuit,
    u0: np.ndarray,
    block: SpectrumBlock,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
    lambda0: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise sum |(Z(u) - z)/scale|^2 for every row at once.

    Returns (u, cost, converged, iterations). Rows stop when their relative cost decrease
    or step falls below ``tol``; only active rows are evaluated, so easy spectra leave the
    batch early.
    """
    n, p = u0.shape
    scale = np.sum(np.abs(block.z) * block.valid, axis=1) / np.maximum(block.valid.sum(axis=1), 1)
    weight = block.valid / np.where(scale > 0, scale, 1.0)[:, None]
    u = u0.copy()
    lam = np.full(n, lambda0)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    eye = np.eye(p)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # residuals and Jacobian at the current point; recomputed only for rows whose step was accepted
        res, jac = _residual_and_jacobian(circuit, u, block, weight)
        cost = np.sum(res**2, axis=1)
        active = np.flatnonzero(np.isfinite(cost))
        for _ in range(max_iter):
            if active.size == 0:
                break
            j_a, r_a = jac[active], res[active]
            jt = j_a.transpose(0, 2, 1)
            jtj = jt @ j_a
            grad = (jt @ r_a[:, :, None])[:, :, 0]
            diag = np.einsum("aii->ai", jtj)
            floor = 1e-12 * diag.max(axis=1, keepdims=True) + 1e-30
            system = jtj + (lam[active][:, None] * (diag + floor))[:, :, None] * eye
            step = -_solve(system, grad)
            u_new = np.clip(u[active] + step, -U_LIMIT, U_LIMIT)
            sub = SpectrumBlock(block.frequency_hz[active], block.z[active], block.valid[active])
            res_new, jac_new = _residual_and_jacobian(circuit, u_new, sub, weight[active])
            cost_new = np.sum(res_new**2, axis=1)
            old = cost[active]
            better = np.isfinite(cost_new) & (cost_new < old) & np.all(np.isfinite(jac_new), axis=(1, 2))
            acc = active[better]
            u[acc], cost[acc], res[acc], jac[acc] = u_new[better], cost_new[better], res_new[better], jac_new[better]
            lam[active] = np.where(better, np.maximum(lam[active] / 3, 1e-12), np.minimum(lam[active] * 4, 1e12))
            iterations[active] += 1
            small_gain = better & ((old - cost_new) <= tol * np.maximum(old, 1e-300))
            small_step = np.max(np.abs(step), axis=1) < 1e-9
            stuck = lam[active] >= 1e12  # no step improves any more: a (local) minimum
            done = small_gain | small_step | stuck
            converged[active[done]] = True
            active = active[~done]
    return u, cost, converged, iterations


def order_arcs(circuit: Circuit, params: np.ndarray) -> np.ndarray:
    """Reorder the RQ arcs of each row by time constant, fastest first.

    Arcs in series are interchangeable, so without a convention "r1_ohm" could name the
    SEI arc in one spectrum and the charge-transfer arc in the next. Sorting by
    tau = (R*Q)^(1/alpha) makes r1 the high-frequency arc everywhere.
    """
    n_rq = circuit.elements.count("RQ")
    if n_rq < 2:
        return params
    cols = np.array([[circuit.index(f"{p}{k + 1}{s}") for p, s in (("r", "_ohm"), ("q", ""), ("alpha", ""))] for k in range(n_rq)])
    r, q, a = params[:, cols[:, 0]], params[:, cols[:, 1]], params[:, cols[:, 2]]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_tau = np.log(r * q) / a
    order = np.argsort(np.where(np.isfinite(log_tau), log_tau, np.inf), axis=1, kind="stable")
    out = params.copy()
    rows = np.arange(len(params))[:, None]
    for j in range(3):
        out[:, cols[:, j]] = params[:, cols[:, j]][rows, order]
    return out


def fit_ecm(
    frequency_hz: np.ndarray | Sequence[np.ndarray],
    z: np.ndarray | Sequence[np.ndarray],
    circuit: str = DEFAULT_CIRCUIT,
    *,
    max_iter: int = 200,
    arc_fractions: Sequence[float] = (0.15, 0.5),
    tol: float = 1e-10,
    lambda0: float = 1.0,
    restart_rel_rmse: float = 0.005,
) -> EcmFit:
    """Fit an equivalent circuit to n spectra at once.

    frequency_hz: (F,) shared grid, (n, F) NaN-padded rows, or a list of per-row arrays.
    z: complex impedance (n, F) (Im(Z) negative where capacitive) or a list of rows.
    circuit: e.g. "L-R0-RQ-RQ-W" (default), "R0-RQ-RQ", "L-R0-RQ-W" (see ``circuits``).
    arc_fractions: starting shares of the first arc in the total arc resistance for the
    heuristic starts. The first start (arcs on the -Im maxima) runs for every spectrum.
    The other arc placements (slow arc below the window, the heuristic) run for suspect
    fits: implausible (an arc outside the window by more than a decade, an arc collapsed,
    a CPE exponent on its bound), R0 collapsed, no convergence, or a rel. misfit above
    restart_rel_rmse; the further arc_fractions only for implausible or unconverged ones
    (a misfit alone is often the circuit's limit on real cells, not a local minimum).
    All such spectra run in one batch per start; the lowest cost wins, except that a
    plausible fit replaces an implausible one up to 1.5x its cost.
    """
    parsed = parse_circuit(circuit)
    block = as_block(frequency_hz, z)
    n, n_freq = block.z.shape
    p = parsed.n_params
    fittable = block.n_valid >= min(MIN_POINTS, p)
    params = np.full((n, p), np.nan)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(fittable)
    if idx.size:
        sub = SpectrumBlock(block.frequency_hz[idx], block.z[idx], block.valid[idx])
        heuristic = initial_values(parsed, sub, arc_fractions if parsed.elements.count("RQ") > 1 else (1.0,))
        two_peak, has_two, tail_start, tail = peak_starts(parsed, sub, heuristic[0])
        everywhere = np.ones(len(idx), dtype=bool)
        # (start, rows it differs for): a start is only retried on suspect rows where it is new
        # (start, rows it is new for, retried on misfit too): the other arc placements are
        # retried on any suspect fit; the further resistance splits only on degenerate ones
        starts = [(two_peak, everywhere, True), (tail_start, tail, True), (heuristic[0], has_two, True)]
        starts += [(h, everywhere, False) for h in heuristic[1:]]
        u_best = parsed.to_internal(starts[0][0])
        u_best, cost_best, conv_best, iter_best = levenberg_marquardt(
            parsed, u_best, sub, max_iter=max_iter, tol=tol, lambda0=lambda0
        )
        cost_best = np.where(np.isfinite(cost_best), cost_best, np.inf)
        f_lo = np.min(np.where(sub.valid, sub.frequency_hz, np.inf), axis=1)
        f_hi = np.max(np.where(sub.valid, sub.frequency_hz, -np.inf), axis=1)
        scale = np.sum(np.abs(sub.z) * sub.valid, axis=1) / np.maximum(sub.n_valid, 1)
        for start, applies, on_misfit in starts[1:]:
            # Further starts only for suspect fits: implausible parameters (an arc collapsed or
            # outside the measured window, a CPE exponent on its bound: a degenerate basin),
            # R0 collapsed, no convergence, or a misfit above restart_rel_rmse.
            fitted = parsed.to_physical(u_best)
            degenerate = check_fit(parsed, fitted, f_lo, f_hi, scale).implausible
            r0_low = fitted[:, parsed.index("r0_ohm")] < 0.2 * heuristic[0][:, parsed.index("r0_ohm")]
            misfit = np.sqrt(cost_best / np.maximum(sub.n_valid, 1)) > restart_rel_rmse
            suspect = degenerate | r0_low | ~conv_best | (misfit & on_misfit)
            if not suspect.any():
                break
            redo = np.flatnonzero(suspect & applies)
            if redo.size == 0:
                continue
            part = SpectrumBlock(sub.frequency_hz[redo], sub.z[redo], sub.valid[redo])
            u2, cost2, conv2, iter2 = levenberg_marquardt(
                parsed, parsed.to_internal(start[redo]), part, max_iter=max_iter, tol=tol, lambda0=lambda0
            )
            # a plausible fit beats an implausible one unless it is clearly worse (the
            # degenerate basins often reach a slightly lower cost by bending a CPE into a tail)
            plausible2 = ~check_fit(parsed, parsed.to_physical(u2), f_lo[redo], f_hi[redo], scale[redo]).implausible
            better = np.isfinite(cost2) & (
                (cost2 < cost_best[redo]) | (plausible2 & degenerate[redo] & (cost2 < 1.5 * cost_best[redo]))
            )
            rows = redo[better]
            u_best[rows], cost_best[rows], conv_best[rows], iter_best[rows] = u2[better], cost2[better], conv2[better], iter2[better]
        params[idx] = parsed.to_physical(u_best)
        converged[idx] = conv_best & np.isfinite(cost_best)
        iterations[idx] = iter_best
    params = order_arcs(parsed, params)
    z_fit = np.full((n, n_freq), np.nan + 0j)
    if idx.size:
        z_fit[idx] = parsed.impedance(params[idx], block.frequency_hz[idx])
    z_fit = np.where(block.valid, z_fit, np.nan + 0j)
    err = np.where(block.valid, np.abs(block.z - np.nan_to_num(z_fit)) ** 2, 0.0)
    count = np.maximum(block.n_valid, 1)
    mean_abs = np.sum(np.abs(block.z) * block.valid, axis=1) / count
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_rmse = np.where(fittable, np.sqrt(err.sum(axis=1) / count) / mean_abs, np.nan)
    return EcmFit(parsed.text, parsed.names, params, z_fit, rel_rmse, converged, iterations)
