"""The per-file summary: every record's row (bench.store.rows) in a few columnar datasets.

Why: reading a record the authoritative way costs a few dozen small HDF5 operations;
for 10,000 records that is tens of seconds of per-object overhead. The summary holds
the same values as columns, so `load_batch` and `list_records` read one file in a
few dozen dataset reads whatever the number of records.

It is a cache, append-only (a later row for a key supersedes an earlier one, so
nothing is ever rewritten in place and nothing leaks), written in the same atomic
commit as the records it describes. A reader trusts it only if its keys are exactly
the file's record keys; otherwise it reads the records themselves. A writer that finds
it stale (e.g. a file edited with plain h5py) rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from bench.store.format import RECORDS_GROUP, key_number, units_for
from bench.store.rows import RAGGED, ROW_NUMBERS, ROW_STRINGS, RecordRow, read_row

SUMMARY_GROUP = "summary"
STRING_DTYPE = h5py.string_dtype("utf-8")
ROW_CHUNK = 256
DATA_CHUNK = 4096  # uncompressed: appends rewrite the last chunk in place, so nothing leaks


@dataclass
class SummaryColumns:
    """Rows of one file (one per record, in key order) as arrays."""

    strings: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    ragged: dict[str, tuple[np.ndarray, tuple[np.ndarray, ...]]]  # part -> (counts, concatenated columns)


def _sorted_keys(keys) -> list[str]:
    return sorted(keys, key=lambda k: (key_number(k), k))


def _create(group: h5py.Group) -> None:
    for name in ROW_STRINGS:
        group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=STRING_DTYPE, chunks=(ROW_CHUNK,)).attrs["units"] = ""
    for name in ROW_NUMBERS:
        group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(ROW_CHUNK,)).attrs["units"] = units_for(name)
    for part, (_kind, columns) in RAGGED.items():
        for suffix in ("start", "count"):
            group.create_dataset(f"{part}_{suffix}", shape=(0,), maxshape=(None,), dtype=np.int64,
                                 chunks=(ROW_CHUNK,)).attrs["units"] = "1"
        for column in columns:
                group.create_dataset(f"{part}_{column}", shape=(0,), maxshape=(None,), dtype=np.float64,
                                 chunks=(DATA_CHUNK,)).attrs["units"] = units_for(column)


def _append(dataset: h5py.Dataset, values: np.ndarray | list) -> int:
    start = dataset.shape[0]
    if len(values):
        dataset.resize((start + len(values),))
        dataset[start:] = values
    return start


def _append_rows(group: h5py.Group, rows: list[RecordRow]) -> None:
    for name in ROW_STRINGS:
        _append(group[name], [row.strings[name] for row in rows])
    for name in ROW_NUMBERS:
        _append(group[name], np.array([row.numbers[name] for row in rows], dtype=np.float64))
    for part, (_kind, columns) in RAGGED.items():
        counts = np.array([len(row.ragged[part][0]) for row in rows], dtype=np.int64)
        first = group[f"{part}_{columns[0]}"].shape[0]
        starts = first + np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if rows else counts
        _append(group[f"{part}_start"], starts)
        _append(group[f"{part}_count"], counts)
        for index, column in enumerate(columns):
            parts = [row.ragged[part][index] for row in rows]
            _append(group[f"{part}_{column}"], np.concatenate(parts) if parts else np.zeros(0))


def _latest_rows(group: h5py.Group) -> tuple[np.ndarray, np.ndarray]:
    """Keys in key order and, for each, the index of its latest summary row."""
    keys = group["key"].asstr()[()]
    if len(keys) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    unique, reversed_index = np.unique(keys[::-1], return_index=True)
    latest = len(keys) - 1 - reversed_index
    order = sorted(range(len(unique)), key=lambda i: (key_number(unique[i]), unique[i]))
    return unique[order], latest[order].astype(np.int64)


def update_summary(handle: h5py.File, keys: list[str], known_rows: dict[str, RecordRow] | None = None) -> None:
    """Append the rows of `keys` (new or changed records); rebuild everything if the summary is stale.

    `known_rows` are rows the caller built while writing (`RowCapture`); the others are read back.
    """
    known_rows = known_rows or {}
    records = handle[RECORDS_GROUP]
    record_keys = set(records.keys())
    if SUMMARY_GROUP in handle:
        summary = handle[SUMMARY_GROUP]
        try:
            known = set(_latest_rows(summary)[0])
            fresh = known <= record_keys and known | set(keys) == record_keys
        except (KeyError, OSError, ValueError):
            fresh = False
        if not fresh:
            del handle[SUMMARY_GROUP]
            keys = list(record_keys)
    else:
        keys = list(record_keys)
    if SUMMARY_GROUP not in handle:
        _create(handle.create_group(SUMMARY_GROUP))
    summary = handle[SUMMARY_GROUP]
    rows = [known_rows.get(key) or read_row(key, records[key]) for key in _sorted_keys(set(keys))]
    _append_rows(summary, rows)


def read_summary(handle: h5py.File) -> SummaryColumns | None:
    """The file's rows from its summary, or None if there is none or it does not match the records."""
    if SUMMARY_GROUP not in handle or RECORDS_GROUP not in handle:
        return None
    summary = handle[SUMMARY_GROUP]
    try:
        keys, rows = _latest_rows(summary)
        if list(keys) != _sorted_keys(handle[RECORDS_GROUP].keys()):
            return None
        strings = {name: summary[name].asstr()[()][rows] for name in ROW_STRINGS}
        numbers = {name: summary[name][()][rows] for name in ROW_NUMBERS}
        ragged = {}
        for part, (_kind, columns) in RAGGED.items():
            starts = summary[f"{part}_start"][()][rows]
            counts = summary[f"{part}_count"][()][rows]
            total = int(counts.sum())
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            gather = np.repeat(starts - offsets[:-1], counts) + np.arange(total, dtype=np.int64)
            data = tuple(summary[f"{part}_{column}"][()][gather] for column in columns)
            ragged[part] = (counts, data)
    except (KeyError, OSError, ValueError, IndexError):
        return None
    return SummaryColumns(strings, numbers, ragged)
