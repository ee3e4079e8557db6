"""Estimator cases found through the CLI, kept so that they stay fixed."""

from __future__ import annotations

import numpy as np

from bench.estimate.features import discharge_features
from bench.records import RaggedSeries


def test_discharge_features_when_the_last_records_have_no_discharge() -> None:
    # A file of capacity records followed by quick-grade records: the batch ends in empty series.
    t = np.arange(0.0, 7201.0, 10.0)
    empty = np.zeros(0)
    series = RaggedSeries.from_lists(
        [t, empty, t[:100], empty, empty],
        [4.0 - t / 1e4, empty, 4.0 - t[:100] / 1e4, empty, empty],
        [-np.ones_like(t), empty, -np.ones(100), empty, empty],
    )
    features = discharge_features(series)
    np.testing.assert_allclose(features.capacity_ah[[0, 2]], [2.0, 990 / 3600])
    assert np.isnan(features.capacity_ah[[1, 3, 4]]).all()
