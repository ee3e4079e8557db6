"""Time-domain features of many records at once, on `RaggedSeries` (concatenated samples + offsets).

Every reduction is a cumulative sum read at the record offsets, or a ufunc ``reduceat``
over them, so a batch of a hundred thousand records costs a few numpy passes and no
Python loop per record. Samples of different records never mix: segments that would
join the last sample of one record to the first of the next are masked out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.records import RaggedSeries

PULSE_SETTLE_S = 1.0  # DC resistance read 1 s after the current step (ohmic + fast charge transfer)
DQDV_BIN_V = 0.01  # incremental-capacity histogram bin width


def record_index(series: RaggedSeries) -> np.ndarray:
    """Record number of every sample (total,)."""
    return np.repeat(np.arange(series.n_records), series.lengths())


def _segment_sum(series: RaggedSeries, values: np.ndarray) -> np.ndarray:
    """Sum per record of per-segment values (total - 1,) where segment k joins samples k and k+1."""
    total = len(series.time_s)
    inside = np.ones(max(total - 1, 0), dtype=bool)
    ends = series.offsets[1:-1] - 1  # last sample of records 0..n-2: its segment crosses a boundary
    inside[ends[(ends >= 0) & (ends < total - 1)]] = False
    csum = np.concatenate([[0.0], np.cumsum(np.where(inside, values, 0.0))])
    # Segments of a record: start .. stop-1. Clipped, because records without samples at the
    # end of the batch start at `total`, one past the last cumulative sum.
    start = np.minimum(series.offsets[:-1], len(csum) - 1)
    stop = np.maximum(np.minimum(series.offsets[1:] - 1, len(csum) - 1), start)
    return csum[stop] - csum[start]


@dataclass(frozen=True)
class DischargeFeatures:
    """Per record: charge and energy delivered while discharging, end voltage, dQ/dV peak (NaN without data)."""

    capacity_ah: np.ndarray
    energy_wh: np.ndarray
    end_voltage_v: np.ndarray
    duration_s: np.ndarray
    dqdv_peak_v: np.ndarray
    dqdv_peak_ah_per_v: np.ndarray


def discharge_features(series: RaggedSeries) -> DischargeFeatures:
    """Trapezoid integrals of -I dt (Ah) and -V*I dt (Wh) per record, plus the dQ/dV peak.

    Current is negative while discharging; charging samples (positive current) do not count.
    """
    n = series.n_records
    lengths = series.lengths()
    has = lengths >= 2
    t, v, i = series.time_s, series.voltage_v, series.current_a
    if len(t) < 2:
        nan = np.full(n, np.nan)
        return DischargeFeatures(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy())
    dt = np.diff(t)
    i_dis = np.maximum(-i, 0.0)
    dq_as = 0.5 * (i_dis[1:] + i_dis[:-1]) * dt
    de_ws = 0.5 * (i_dis[1:] * v[1:] + i_dis[:-1] * v[:-1]) * dt
    capacity_ah = np.where(has, _segment_sum(series, dq_as) / 3600.0, np.nan)
    energy_wh = np.where(has, _segment_sum(series, de_ws) / 3600.0, np.nan)
    last = np.maximum(series.offsets[1:] - 1, 0)
    first = np.minimum(series.offsets[:-1], len(t) - 1)
    end_voltage_v = np.where(has, v[last], np.nan)
    duration_s = np.where(has, t[last] - t[first], np.nan)

    # dQ/dV: histogram of delivered charge over voltage bins, one row per record.
    rec = record_index(series)[1:]
    inside = np.concatenate([[True], np.diff(record_index(series)) == 0])[1:]
    v_mid = 0.5 * (v[1:] + v[:-1])
    lo = np.nanmin(v)
    n_bins = int(np.ceil((np.nanmax(v) - lo) / DQDV_BIN_V)) + 1
    bins = np.clip(((v_mid - lo) / DQDV_BIN_V).astype(np.int64), 0, n_bins - 1)
    weights = np.where(inside & np.isfinite(dq_as), dq_as / 3600.0, 0.0)
    hist = np.bincount(rec * n_bins + bins, weights=weights, minlength=n * n_bins).reshape(n, n_bins)
    peak_bin = np.argmax(hist, axis=1)
    peak_height = hist[np.arange(n), peak_bin] / DQDV_BIN_V
    has_peak = has & (peak_height > 0)
    dqdv_peak_v = np.where(has_peak, lo + (peak_bin + 0.5) * DQDV_BIN_V, np.nan)
    return DischargeFeatures(
        capacity_ah, energy_wh, end_voltage_v, duration_s, dqdv_peak_v, np.where(has_peak, peak_height, np.nan)
    )


@dataclass(frozen=True)
class PulseFeatures:
    """Per record: DC resistance at the pulse edge (NaN without a usable pulse)."""

    dc_resistance_ohm: np.ndarray
    pulse_current_a: np.ndarray


def pulse_features(series: RaggedSeries, settle_s: float = PULSE_SETTLE_S) -> PulseFeatures:
    """R_dc = (V(t_edge + settle_s) - V_before) / (I(t_edge + settle_s) - I_before) per record.

    The edge is the first sample whose |I| exceeds half the record's peak |I|; "before"
    is the sample just before it (the rest voltage).
    """
    n = series.n_records
    total = len(series.time_s)
    nan = np.full(n, np.nan)
    if total < 3:
        return PulseFeatures(nan, nan.copy())
    rec = record_index(series)
    idx = np.arange(total)
    non_empty = series.lengths() > 0
    starts = series.offsets[:-1]
    abs_i = np.abs(series.current_a)
    peak = np.zeros(n)
    peak[non_empty] = np.maximum.reduceat(abs_i, starts[non_empty])
    big = np.iinfo(np.int64).max
    edge_candidates = np.where(abs_i > 0.5 * peak[rec], idx, big)
    edge = np.full(n, big)
    edge[non_empty] = np.minimum.reduceat(edge_candidates, starts[non_empty])
    ok = non_empty & (edge < big) & (edge > starts) & (peak > 0)
    edge_safe = np.where(ok, edge, 0)
    t_target = series.time_s[edge_safe] + settle_s
    after_candidates = np.where((idx >= edge_safe[rec]) & (series.time_s >= t_target[rec]), idx, big)
    after = np.full(n, big)
    after[non_empty] = np.minimum.reduceat(after_candidates, starts[non_empty])
    ok &= (after < big) & (after < series.offsets[1:])
    after_safe = np.where(ok, after, 0)
    before = np.maximum(edge_safe - 1, 0)
    d_i = series.current_a[after_safe] - series.current_a[before]
    d_v = series.voltage_v[after_safe] - series.voltage_v[before]
    ok &= np.abs(d_i) > 0
    r_dc = np.where(ok, d_v / np.where(ok, d_i, 1.0), np.nan)
    return PulseFeatures(r_dc, np.where(ok, series.current_a[after_safe], np.nan))
