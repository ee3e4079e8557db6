"""Writing one record's content into an HDF5 group: provenance, scalars, spectra, streamed series.

The writer knows nothing of journals or files; `bench.store.runstore` decides which file
the group lives in and when that file is flushed (after every write, through `flush`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from bench.store.format import (
    CELL_TYPE_GROUP,
    FINAL_STATUSES,
    INCOMPLETE,
    INSTRUMENTS_GROUP,
    PROFILE_DATASET,
    RESERVED_RECORD_ATTRS,
    STEPS_GROUP,
    STUB_REASON,
    RecordMeta,
    StoreError,
    attr_value,
    cell_type_attr,
    check_step_name,
    units_for,
    utc_now,
)
from bench.store.rows import RowCapture

SERIES_CHUNK_ROWS = 1024  # 8 KiB per column chunk: small enough to flush often, large enough to compress
STRING_DTYPE = h5py.string_dtype("utf-8")


def write_meta(group: h5py.Group, key: str, meta: RecordMeta, *, started_utc: str) -> None:
    """Provenance of a record, and the status `incomplete` until `finish` says otherwise."""
    attrs = group.attrs
    attrs["cell_id"] = meta.cell_id
    attrs["measurement_id"] = meta.measurement_id or key
    attrs["slot"] = int(meta.slot)
    attrs["station"] = meta.station
    attrs["operator"] = meta.operator
    attrs["profile_name"] = meta.profile_name
    attrs["profile_sha256"] = meta.profile_sha256
    attrs["software_version"] = meta.software_version
    attrs["reference_capacity_ah"] = float(meta.reference_capacity_ah)
    attrs["started_utc"] = started_utc
    attrs["finished_utc"] = ""
    attrs["status"] = INCOMPLETE
    attrs["reason"] = STUB_REASON
    for name, value in meta.extra_attrs.items():
        if name in RESERVED_RECORD_ATTRS:
            raise StoreError(f"record attribute {name!r} is reserved for the record's provenance")
        attrs[name] = attr_value(value)
    profile = group.create_dataset(PROFILE_DATASET, data=meta.profile_text, dtype=STRING_DTYPE)
    profile.attrs["units"] = ""
    cell_type = group.create_group(CELL_TYPE_GROUP)
    for name, value in meta.cell_type.items():
        encoded = cell_type_attr(value)
        if encoded is not None:
            cell_type.attrs[name] = encoded
    instruments = group.create_group(INSTRUMENTS_GROUP)
    for name, idn in meta.instruments.items():
        instruments.attrs[name] = str(idn)
    group.create_group(STEPS_GROUP, track_order=True)


class SeriesWriter:
    """Appends rows of a time series to chunked, compressed, resizable datasets, flushing each append."""

    def __init__(self, group: h5py.Group, columns: tuple[str, ...], flush: Callable[[], None]) -> None:
        self._group = group
        self._columns = tuple(columns)
        self._flush = flush
        self.rows = 0
        for name in self._columns:
            dataset = group.create_dataset(
                name, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(SERIES_CHUNK_ROWS,),
                compression="gzip", compression_opts=4, shuffle=True,
            )
            dataset.attrs["units"] = units_for(name)
        flush()

    def append(self, **columns: Any) -> None:
        if set(columns) != set(self._columns):
            raise StoreError(f"series {self._group.name}: append needs exactly the columns {self._columns}, got {tuple(columns)}")
        arrays = {name: np.atleast_1d(np.asarray(values, dtype=np.float64)) for name, values in columns.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise StoreError(f"series {self._group.name}: columns of one append must have the same length")
        count = lengths.pop()
        if count == 0:
            return
        for name, values in arrays.items():
            dataset = self._group[name]
            dataset.resize((self.rows + count,))
            dataset[self.rows:] = values
        self.rows += count
        self._group.attrs["rows"] = self.rows
        self._flush()

    def __enter__(self) -> "SeriesWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._flush()


class RecordWriter:
    """What the runner writes a record through (`bench.runner.RecordSink`)."""

    def __init__(self, group: h5py.Group, flush: Callable[[], None] = lambda: None,
                 capture: RowCapture | None = None) -> None:
        self._group = group
        self._flush = flush
        self.capture = capture  # the summary row, built as the record is written (bulk commits)
        self.status = INCOMPLETE

    @property
    def finished(self) -> bool:
        return self.status != INCOMPLETE

    def _new_step(self, step: str, kind: str) -> h5py.Group:
        check_step_name(step)
        steps = self._group[STEPS_GROUP]
        if step in steps:
            raise StoreError(f"step {step!r} is already in record {self._group.name}: step names must be unique")
        group = steps.create_group(step)
        group.attrs["kind"] = kind
        group.attrs["index"] = len(steps) - 1
        return group

    def write_scalars(self, step: str, *, kind: str, values: dict[str, float]) -> None:
        group = self._new_step(step, kind)
        for name, value in values.items():
            dataset = group.create_dataset(name, data=np.float64(value))
            dataset.attrs["units"] = units_for(name)
        if self.capture is not None:
            self.capture.step(kind, values)
        self._flush()

    def write_spectrum(self, step: str, *, kind: str, **arrays: Any) -> None:
        converted = {name: np.asarray(values, dtype=np.float64) for name, values in arrays.items()}
        lengths = {a.shape[0] for a in converted.values() if a.ndim == 1}
        if len(lengths) > 1 or any(a.ndim > 1 for a in converted.values()):
            raise StoreError(f"spectrum {step!r}: arrays must be 1-D and of one length (got {sorted(lengths)})")
        group = self._new_step(step, kind)
        for name, values in converted.items():
            dataset = group.create_dataset(name, data=values)
            dataset.attrs["units"] = units_for(name)
        if self.capture is not None:
            self.capture.step(kind, converted)
        self._flush()

    def open_series(self, step: str, *, kind: str, columns: tuple[str, ...], attrs: dict | None = None) -> SeriesWriter:
        group = self._new_step(step, kind)
        if self.capture is not None:
            self.capture.step(kind, {}, series=True)
        for name, value in (attrs or {}).items():
            group.attrs[name] = attr_value(value)
        return SeriesWriter(group, tuple(columns), self._flush)

    def set_attrs(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            if name in RESERVED_RECORD_ATTRS:
                raise StoreError(f"record attribute {name!r} is reserved; use finish() for status and reason")
            self._group.attrs[name] = attr_value(value)
        self._flush()

    def finish(self, status: str, *, reason: str = "") -> None:
        if status not in FINAL_STATUSES:
            raise StoreError(f"record status {status!r} is not one of {', '.join(FINAL_STATUSES)}")
        self._group.attrs["status"] = status
        self._group.attrs["reason"] = reason
        finished_utc = utc_now()
        self._group.attrs["finished_utc"] = finished_utc
        if self.capture is not None:
            self.capture.finish(status, reason, finished_utc)
        self.status = status
        self._flush()


def mark_interrupted(group: h5py.Group, reason: str) -> None:
    """Status `incomplete` with a reason, for a record whose writer never finished it."""
    if str(group.attrs.get("status", INCOMPLETE)) not in FINAL_STATUSES:
        group.attrs["status"] = INCOMPLETE
        group.attrs["reason"] = reason

