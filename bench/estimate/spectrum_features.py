"""Features read straight off measured spectra, without a circuit fit.

Why: a fit can fail (a local minimum, a spectrum the circuit does not describe) while
the measured points are perfectly good. The high-frequency real-axis intercept is the
ohmic resistance by definition, and |Z| at a fixed frequency is interpolated between
measured points; neither depends on an optimiser's starting point. All functions work
on a whole ``SpectrumBlock`` at once.
"""

from __future__ import annotations

import numpy as np

from bench.estimate.spectra import SpectrumBlock

# How far (as a factor) a requested frequency may lie outside the measured range and still
# be read off the nearest end point instead of returning NaN.
EDGE_TOLERANCE = 1.05


def _sorted_ascending(block: SpectrumBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by frequency, low -> high, invalid points last (frequency +inf)."""
    rows = np.arange(block.z.shape[0])[:, None]
    order = np.argsort(np.where(block.valid, block.frequency_hz, np.inf), axis=1, kind="stable")
    f = np.where(block.valid, block.frequency_hz, np.inf)[rows, order]
    return f, block.z[rows, order], block.valid[rows, order]


def high_frequency_intercept_ohm(block: SpectrumBlock) -> np.ndarray:
    """(n,) Re(Z) where Im(Z) crosses zero (inductive above, capacitive below), interpolated in log f.

    Without a crossing in the window (no inductive points), the real part at the highest
    measured frequency: an upper bound of the ohmic resistance. NaN for empty rows.
    """
    f, z, valid = _sorted_ascending(block)
    n, width = z.shape
    r = np.arange(n)
    n_valid = valid.sum(axis=1)
    top = np.maximum(n_valid - 1, 0)
    out = np.where(n_valid > 0, z.real[r, top], np.nan)
    if width < 2:
        return out
    capacitive = valid & (z.imag <= 0)
    # the highest-frequency capacitive point whose next higher neighbour is inductive
    nxt_inductive = np.zeros_like(valid)
    nxt_inductive[:, :-1] = valid[:, 1:] & (z.imag[:, 1:] > 0)
    crossing = capacitive & nxt_inductive
    has = crossing.any(axis=1)
    k = width - 1 - np.argmax(crossing[:, ::-1], axis=1)  # last crossing = highest frequency
    k = np.where(has, k, 0)
    k1 = np.minimum(k + 1, width - 1)
    y0, y1 = z.imag[r, k], z.imag[r, k1]
    w = np.where(has & (y1 != y0), -y0 / np.where(y1 != y0, y1 - y0, 1.0), 0.0)
    r_cross = z.real[r, k] + w * (z.real[r, k1] - z.real[r, k])
    return np.where(has, r_cross, out)


def abs_z_at(block: SpectrumBlock, frequency_hz: np.ndarray) -> np.ndarray:
    """(n, k) |Z| at the given frequencies, linear in log|Z| over log f between measured points.

    NaN where a frequency lies outside a row's measured range by more than EDGE_TOLERANCE.
    """
    targets = np.asarray(frequency_hz, dtype=float)
    f, z, valid = _sorted_ascending(block)
    n, width = z.shape
    r = np.arange(n)[:, None]
    n_valid = valid.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = np.where(valid, np.log(np.where(valid, f, 1.0)), np.inf)
        log_z = np.where(valid, np.log(np.abs(z)), np.nan)
    log_t = np.log(targets)[None, :]
    # index of the first measured point at or above each target, clipped into [1, n_valid - 1]
    above = (log_f[:, :, None] < log_t[:, None, :]).sum(axis=1)
    hi = np.clip(above, 1, np.maximum(n_valid - 1, 1)[:, None])
    lo = hi - 1
    x0, x1 = log_f[r, lo], log_f[r, hi]
    y0, y1 = log_z[r, lo], log_z[r, hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.clip(np.where(x1 > x0, (log_t - x0) / (x1 - x0), 0.0), 0.0, 1.0)
    value = np.exp(y0 + w * (y1 - y0))
    f_min = np.where(n_valid > 0, f[:, 0], np.nan)[:, None]
    f_max = np.where(n_valid > 0, f[np.arange(n), np.maximum(n_valid - 1, 0)], np.nan)[:, None]
    inside = (targets[None, :] >= f_min / EDGE_TOLERANCE) & (targets[None, :] <= f_max * EDGE_TOLERANCE) & (n_valid[:, None] >= 2)
    return np.where(inside, value, np.nan)
