"""Properties of the ragged time-domain reductions: records never mix, integrals match closed forms."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.estimate import discharge_features
from bench.records import RaggedSeries

record = st.tuples(
    st.integers(min_value=0, max_value=40),  # samples (0 = no discharge in this record)
    st.floats(min_value=0.01, max_value=10.0),  # discharge current magnitude, A
    st.floats(min_value=0.1, max_value=60.0),  # sample interval, s
)


@given(st.lists(record, min_size=1, max_size=12), st.integers(min_value=0, max_value=3))
@settings(max_examples=60, deadline=None)
def test_capacity_of_constant_current_records_is_current_times_time(records, trailing_empty) -> None:
    records = records + [(0, 1.0, 1.0)] * trailing_empty  # batches may end in records without a discharge
    times, volts, amps = [], [], []
    for n_samples, current_a, step_s in records:
        t = np.arange(n_samples) * step_s
        times.append(t)
        volts.append(np.full(n_samples, 3.6))
        amps.append(np.full(n_samples, -current_a))
    d = discharge_features(RaggedSeries.from_lists(times, volts, amps))
    for k, (n_samples, current_a, step_s) in enumerate(records):
        if n_samples >= 2:
            expected_ah = current_a * (n_samples - 1) * step_s / 3600
            assert np.isclose(d.capacity_ah[k], expected_ah, rtol=1e-9)
            assert np.isclose(d.energy_wh[k], 3.6 * expected_ah, rtol=1e-9)
        else:
            assert np.isnan(d.capacity_ah[k])


@given(st.lists(st.integers(min_value=2, max_value=30), min_size=2, max_size=8), st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_each_record_reduces_alone(lengths, seed) -> None:
    rng = np.random.default_rng(seed)
    parts = [(np.cumsum(rng.uniform(0.1, 5, n)), rng.uniform(3, 4, n), -rng.uniform(0, 3, n)) for n in lengths]
    together = discharge_features(RaggedSeries.from_lists(*[list(x) for x in zip(*parts)]))
    for k, (t, v, i) in enumerate(parts):
        alone = discharge_features(RaggedSeries.from_lists([t], [v], [i]))
        assert np.isclose(together.capacity_ah[k], alone.capacity_ah[0], rtol=1e-9)
        assert np.isclose(together.energy_wh[k], alone.energy_wh[0], rtol=1e-9)
