"""Bring spectra into one shape: (n, F) frequency and complex impedance, NaN-padded, plus a validity mask.

Spectra arrive on one shared grid ((F,) frequencies), as NaN-padded rows ((n, F)), or as
per-row arrays of different lengths (lists). Everything downstream works on the padded
form with a boolean mask, so that one numpy expression handles all spectra at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.estimate.errors import EstimateInputError


@dataclass(frozen=True)
class SpectrumBlock:
    """n spectra padded to F points. Invalid points hold frequency 1 Hz and Z 0 so arithmetic stays finite."""

    frequency_hz: np.ndarray  # (n, F)
    z: np.ndarray  # (n, F) complex
    valid: np.ndarray  # (n, F) bool

    @property
    def n_valid(self) -> np.ndarray:
        return self.valid.sum(axis=1)


def _pad(rows: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), np.nan, dtype=dtype)
    for i, row in enumerate(rows):  # input shaping only, not the numeric hot path
        out[i, : len(row)] = row
    return out


def as_block(frequency_hz: np.ndarray | Sequence[np.ndarray], z: np.ndarray | Sequence[np.ndarray]) -> SpectrumBlock:
    """Accept a shared grid, padded rows or per-row lists; return the padded, masked block."""
    if isinstance(z, (list, tuple)):
        z_arr = _pad([np.asarray(r, dtype=complex) for r in z], complex)
    else:
        z_arr = np.atleast_2d(np.asarray(z, dtype=complex))
    if isinstance(frequency_hz, (list, tuple)) and len(frequency_hz) and np.ndim(frequency_hz[0]) == 1:
        f_arr = _pad([np.asarray(r, dtype=float) for r in frequency_hz], float)
    else:
        f_arr = np.asarray(frequency_hz, dtype=float)
    if f_arr.ndim == 1:
        f_arr = np.broadcast_to(f_arr, z_arr.shape)
    if f_arr.shape != z_arr.shape:
        raise EstimateInputError(
            f"spectra: frequency shape {f_arr.shape} does not match impedance shape {z_arr.shape}; "
            "give one grid (F,) or one row per spectrum (n, F)"
        )
    valid = np.isfinite(f_arr) & (f_arr > 0) & np.isfinite(z_arr.real) & np.isfinite(z_arr.imag)
    return SpectrumBlock(np.where(valid, f_arr, 1.0), np.where(valid, z_arr, 0.0), valid)
