"""The arrays the store hands to the estimator: many records at once, no files.

This is the seam between `bench.store` (which knows the HDF5 layout) and
`bench.estimate` (which knows arrays only). Every array's first axis is the record.
Ragged data (spectra of different lengths, time series) are NaN-padded 2-D arrays or
`RaggedSeries` (concatenated values plus offsets), so that the estimator can work on
all records at once with numpy reductions instead of Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RaggedSeries:
    """Time series of n records, concatenated.

    Record i owns rows `offsets[i]:offsets[i+1]` of every column; an empty slice means
    the record has no such series. `offsets` has n + 1 entries, starting at 0.
    """

    offsets: np.ndarray  # (n + 1,) int64
    time_s: np.ndarray  # (total,) float64, time since the step started
    voltage_v: np.ndarray  # (total,) float64
    current_a: np.ndarray  # (total,) float64, negative while discharging

    @classmethod
    def empty(cls, n_records: int) -> "RaggedSeries":
        zeros = np.zeros(0)
        return cls(np.zeros(n_records + 1, dtype=np.int64), zeros, zeros, zeros)

    @classmethod
    def from_lists(
        cls,
        time_s: list[np.ndarray],
        voltage_v: list[np.ndarray],
        current_a: list[np.ndarray],
    ) -> "RaggedSeries":
        lengths = np.array([len(t) for t in time_s], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

        return cls(offsets, cat(time_s), cat(voltage_v), cat(current_a))

    @property
    def n_records(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class RecordBatch:
    """n records read from one or many HDF5 files, ready for the estimator.

    Missing values are NaN (numbers) or "" (strings). `z_real_ohm`/`z_imag_ohm` hold
    Im(Z) with its natural sign (negative where capacitive) on each record's own
    frequencies; rows are NaN-padded to the longest spectrum.
    """

    source_file: np.ndarray  # (n,) str
    record_key: np.ndarray  # (n,) str, the record's group name inside its file
    cell_id: np.ndarray  # (n,) str
    measurement_id: np.ndarray  # (n,) str, the record's identity (imported id, or the record key)
    status: np.ndarray  # (n,) str: complete | aborted | incomplete
    status_reason: np.ndarray  # (n,) str
    profile_name: np.ndarray  # (n,) str
    rules_key: np.ndarray  # (n,) str: key into `rules_by_key` (grading rules of the record)
    cell_type: np.ndarray  # (n,) str
    chemistry: np.ndarray  # (n,) str
    nominal_capacity_ah: np.ndarray  # (n,)
    nominal_voltage_v: np.ndarray  # (n,)
    reference_r0_ohm: np.ndarray  # (n,) beginning-of-life ohmic resistance of the cell type
    frequency_hz: np.ndarray  # (n, n_freq), NaN-padded
    z_real_ohm: np.ndarray  # (n, n_freq)
    z_imag_ohm: np.ndarray  # (n, n_freq)
    temperature_c: np.ndarray  # (n,) at measurement time
    soc: np.ndarray  # (n,) 0..1 at measurement time, NaN where unknown
    ocv_v: np.ndarray  # (n,)
    reference_capacity_ah: np.ndarray  # (n,) from an imported or separate reference test
    discharge: RaggedSeries  # CC discharge of a capacity test, empty where absent
    pulse: RaggedSeries  # DC pulse (rest before, pulse, rest after), empty where absent
    rules_by_key: dict = field(default_factory=dict)  # rules_key -> grading-rules mapping (TOML table)

    @property
    def n_records(self) -> int:
        return len(self.cell_id)
