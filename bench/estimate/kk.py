"""Lin-KK validity check of many spectra at once (Schönleber et al., Electrochim. Acta 131 (2014) 20-27).

A spectrum that obeys the Kramers-Kronig relations (linear, causal, stable, time-invariant
system) can be written as a series of RC elements with fixed time constants. Fitting
that linear model is a linear least-squares problem, so all spectra are solved together:
one (n, P, P) stack of normal equations per model size M. The number of RC elements is
chosen per spectrum by the mu criterion (the smallest M at which the negative resistances
stay below 1 - mu_threshold of the positive ones), which stops before the model starts to
fit noise. Residuals relative to |Z| that stay above a percent or two mean drift,
non-linearity or a corrupted point: such a spectrum must not be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.estimate.spectra import as_block

# Threshold on max(|residual| / |Z|). On the 1,366 real spectra of Zhang et al. (2020)
# the median maximum residual is 0.5 %, the 99th percentile 1.6 %, the largest 2.1 %; a
# single point with the sign of Im(Z) flipped gives about 30 %, a jump of Re(Z) by 10 % of
# mean |Z| mid-sweep about 5 %. Slow, smooth drift is largely absorbed by the RC series.
DEFAULT_KK_THRESHOLD = 0.02
DEFAULT_MU_THRESHOLD = 0.85


@dataclass(frozen=True)
class LinKKResult:
    """Per spectrum: chosen M, mu, residuals relative to |Z| (NaN where no point), max residual, verdict."""

    n_rc: np.ndarray  # (n,) number of RC elements used
    mu: np.ndarray  # (n,)
    residual_real: np.ndarray  # (n, F) (Re Z - Re Z_kk) / |Z|
    residual_imag: np.ndarray  # (n, F) (Im Z - Im Z_kk) / |Z|
    max_residual: np.ndarray  # (n,) max over points of max(|res_real|, |res_imag|); NaN without data
    passed: np.ndarray  # (n,) bool


def _fit_m(
    omega: np.ndarray, z: np.ndarray, valid: np.ndarray, m: int, add_capacitance: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit M RC elements (+ R0, L, optional series C) to all rows; return (z_kk, r_k, ok)."""
    w_pos = np.where(valid, omega, np.nan)
    log_tau_min = np.log(1 / np.nanmax(w_pos, axis=1))
    log_tau_max = np.log(1 / np.nanmin(w_pos, axis=1))
    frac = np.linspace(0.0, 1.0, m)
    tau = np.exp(log_tau_min[:, None] + (log_tau_max - log_tau_min)[:, None] * frac)  # (n, M)
    basis = [np.ones_like(omega, dtype=complex), 1j * omega]
    if add_capacitance:
        basis.append(1 / (1j * omega))
    columns = np.concatenate([np.stack(basis, axis=2), 1 / (1 + 1j * omega[:, :, None] * tau[:, None, :])], axis=2)
    weight = valid / np.where(valid, np.abs(z), 1.0)
    cw = columns * weight[:, :, None]
    a = np.concatenate([cw.real, cw.imag], axis=1)  # (n, 2F, P)
    b = np.concatenate([(z * weight).real, (z * weight).imag], axis=1)
    norm = np.sqrt(np.sum(a**2, axis=1))  # column scaling keeps the normal equations well conditioned
    norm = np.where(norm > 0, norm, 1.0)
    a_s = a / norm[:, None, :]
    at = a_s.transpose(0, 2, 1)
    ata = at @ a_s
    ata += 1e-10 * np.eye(ata.shape[1])
    x = np.linalg.solve(ata, (at @ b[:, :, None]))[:, :, 0] / norm
    z_kk = np.einsum("nfp,np->nf", columns, x)
    ok = valid.sum(axis=1) > columns.shape[2] // 2 + 1
    return z_kk, x[:, len(basis) :], ok


def lin_kk(
    frequency_hz: np.ndarray | Sequence[np.ndarray],
    z: np.ndarray | Sequence[np.ndarray],
    *,
    n_rc: int | None = None,
    mu_threshold: float = DEFAULT_MU_THRESHOLD,
    max_rc: int = 50,
    threshold: float = DEFAULT_KK_THRESHOLD,
    add_capacitance: bool = True,
) -> LinKKResult:
    """Kramers-Kronig check of n spectra (same input forms as ``fit_ecm``).

    n_rc: a fixed number of RC elements; None chooses it per spectrum by the mu criterion.
    threshold: a spectrum passes when every relative residual is below it.
    """
    block = as_block(frequency_hz, z)
    n, n_freq = block.z.shape
    omega = 2 * np.pi * block.frequency_hz
    has_data = block.n_valid >= 4
    z_best = np.full((n, n_freq), np.nan + 0j)
    chosen = np.zeros(n, dtype=np.int64)
    mu_best = np.full(n, np.nan)
    pending = has_data.copy()
    m_values = [n_rc] if n_rc else range(3, max(4, min(max_rc, int(block.n_valid.max(initial=0)))) + 1)
    for m in m_values:  # loop over model sizes, never over spectra
        rows = np.flatnonzero(pending)
        if rows.size == 0:
            break
        z_kk, r_k, ok = _fit_m(omega[rows], block.z[rows], block.valid[rows], m, add_capacitance)
        pos = np.sum(np.where(r_k >= 0, r_k, 0.0), axis=1)
        neg = np.sum(np.where(r_k < 0, -r_k, 0.0), axis=1)
        mu = 1 - neg / np.where(pos > 0, pos, np.inf)
        take = ok & ((mu <= mu_threshold) | (n_rc is not None) | (m == m_values[-1]))
        z_best[rows[ok]] = z_kk[ok]
        chosen[rows[ok]] = m
        mu_best[rows[ok]] = mu[ok]
        pending[rows[take]] = False
    magnitude = np.where(block.valid, np.abs(block.z), np.nan)
    res_real = np.where(block.valid, (block.z.real - z_best.real) / magnitude, np.nan)
    res_imag = np.where(block.valid, (block.z.imag - z_best.imag) / magnitude, np.nan)
    worst = np.fmax(np.abs(res_real), np.abs(res_imag))
    max_residual = np.where(has_data & (chosen > 0), np.nanmax(np.where(np.isfinite(worst), worst, -np.inf), axis=1), np.nan)
    max_residual = np.where(np.isfinite(max_residual), max_residual, np.nan)
    passed = np.isfinite(max_residual) & (max_residual <= threshold)
    return LinKKResult(chosen, mu_best, res_real, res_imag, max_residual, passed)
