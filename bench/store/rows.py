"""One record read the slow, authoritative way: its own attributes and step datasets.

`bench.store.summary` caches exactly these rows per file so that batches of thousands of
records load in a few dataset reads; this module is the reference the cache is built from
and the fallback when a file has no (or a stale) summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from bench.store.format import CELL_TYPE_GROUP, FINAL_STATUSES, INCOMPLETE, STEPS_GROUP, cell_type_field, text

ROW_STRINGS = ("key", "cell_id", "measurement_id", "status", "reason", "profile_name", "profile_sha256",
               "started_utc", "finished_utc", "cell_type", "chemistry")
ROW_NUMBERS = ("nominal_capacity_ah", "nominal_voltage_v", "reference_r0_ohm", "temperature_c", "soc", "ocv_v",
               "reference_capacity_ah")
RAGGED = {
    "eis": ("eis", ("frequency_hz", "z_real_ohm", "z_imag_ohm")),
    "pulse": ("pulse", ("time_s", "voltage_v", "current_a")),
    "discharge": ("cc_discharge", ("time_s", "voltage_v", "current_a")),
}  # part of the row -> (step kind whose first step it comes from, columns)
EMPTY = np.zeros(0)


@dataclass
class RecordRow:
    strings: dict[str, str]
    numbers: dict[str, float]
    ragged: dict[str, tuple[np.ndarray, ...]]


def status_of(attrs: Any) -> str:
    status = text(attrs.get("status", ""))
    return status if status in FINAL_STATUSES else INCOMPLETE


def _scalar(group: h5py.Group | None, name: str) -> float:
    """A 0-d dataset's value, or the mean of a per-point array (temperature over a sweep), or NaN."""
    if group is None or name not in group:
        return math.nan
    value = np.asarray(group[name][()], dtype=np.float64)
    if value.ndim == 0:
        return float(value)
    return float(np.nanmean(value)) if value.size and np.isfinite(value).any() else math.nan


def _columns(group: h5py.Group | None, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    if group is None or any(name not in group for name in names):
        return tuple(EMPTY for _ in names)
    arrays = tuple(np.asarray(group[name][()], dtype=np.float64).ravel() for name in names)
    if len({len(a) for a in arrays}) != 1:
        return tuple(EMPTY for _ in names)
    return arrays


def first_steps(group: h5py.Group) -> dict[str, h5py.Group]:
    """The first step of each kind, in measurement order (steps are created in order, tracked)."""
    if STEPS_GROUP not in group:
        return {}
    steps = group[STEPS_GROUP]
    ordered = sorted(steps.values(), key=lambda step: int(step.attrs.get("index", 0)))
    first: dict[str, h5py.Group] = {}
    for step in ordered:
        first.setdefault(text(step.attrs.get("kind", "")), step)
    return first


def cell_type_of(group: h5py.Group) -> dict[str, Any]:
    """The record's cell type as stored: numbers, text, and the OCV table (if any) as tuples of floats."""
    if CELL_TYPE_GROUP not in group:
        return {}
    return {name: cell_type_field(value) for name, value in group[CELL_TYPE_GROUP].attrs.items()}


def read_row(key: str, group: h5py.Group) -> RecordRow:
    attrs = group.attrs
    cell_type = cell_type_of(group)
    first = first_steps(group)
    eis, ocv = first.get("eis"), first.get("ocv")
    temperature_c = _scalar(eis, "temperature_c")
    if math.isnan(temperature_c):
        temperature_c = _scalar(ocv, "temperature_c")
    strings = {
        "key": key,
        "cell_id": text(attrs.get("cell_id", "")),
        "measurement_id": text(attrs.get("measurement_id", key)),
        "status": status_of(attrs),
        "reason": text(attrs.get("reason", "")),
        "profile_name": text(attrs.get("profile_name", "")),
        "profile_sha256": text(attrs.get("profile_sha256", "")),
        "started_utc": text(attrs.get("started_utc", "")),
        "finished_utc": text(attrs.get("finished_utc", "")),
        "cell_type": str(cell_type.get("name", "")),
        "chemistry": str(cell_type.get("chemistry", "")),
    }
    numbers = {
        "nominal_capacity_ah": float(cell_type.get("nominal_capacity_ah", math.nan)),
        "nominal_voltage_v": float(cell_type.get("nominal_voltage_v", math.nan)),
        "reference_r0_ohm": float(cell_type.get("reference_r0_ohm", math.nan)),
        "temperature_c": temperature_c,
        "soc": _scalar(eis, "soc"),
        "ocv_v": _scalar(ocv, "voltage_v"),
        "reference_capacity_ah": float(attrs.get("reference_capacity_ah", math.nan)),
    }
    ragged = {part: _columns(first.get(kind), names) for part, (kind, names) in RAGGED.items()}
    return RecordRow(strings, numbers, ragged)


class RowCapture:
    """Builds a record's row from what its writer writes, so bulk commits need not read it back.

    It gives up (row() is None) as soon as a time series of a summarized kind is written:
    series are streamed to the file and never held, so such rows are read back instead.
    The values are exactly those `read_row` would read (the same float64 numbers).
    """

    def __init__(self, key: str, meta: Any, started_utc: str) -> None:
        cell_type = meta.cell_type
        self._row: RecordRow | None = RecordRow(
            strings={
                "key": key, "cell_id": meta.cell_id, "measurement_id": meta.measurement_id or key,
                "status": INCOMPLETE, "reason": "", "profile_name": meta.profile_name,
                "profile_sha256": meta.profile_sha256, "started_utc": started_utc, "finished_utc": "",
                "cell_type": str(cell_type.get("name", "")), "chemistry": str(cell_type.get("chemistry", "")),
            },
            numbers={
                "nominal_capacity_ah": float(cell_type.get("nominal_capacity_ah", math.nan)),
                "nominal_voltage_v": float(cell_type.get("nominal_voltage_v", math.nan)),
                "reference_r0_ohm": float(cell_type.get("reference_r0_ohm", math.nan)),
                "temperature_c": math.nan, "soc": math.nan, "ocv_v": math.nan,
                "reference_capacity_ah": float(meta.reference_capacity_ah),
            },
            ragged={part: tuple(EMPTY for _ in names) for part, (_kind, names) in RAGGED.items()},
        )
        self._seen: set[str] = set()
        self._eis_temperature_c = math.nan
        self._ocv_temperature_c = math.nan

    @staticmethod
    def _mean(value: Any) -> float:
        array = np.asarray(value, dtype=np.float64)
        if array.ndim == 0:
            return float(array)
        return float(np.nanmean(array)) if array.size and np.isfinite(array).any() else math.nan

    def step(self, kind: str, values: dict[str, Any], *, series: bool = False) -> None:
        first = kind not in self._seen
        self._seen.add(kind)
        if self._row is None or not first:
            return
        if series:
            if any(kind == k for k, _names in RAGGED.values()):
                self._row = None
            return
        numbers = self._row.numbers
        if kind == "ocv":
            numbers["ocv_v"] = self._mean(values["voltage_v"]) if "voltage_v" in values else math.nan
            self._ocv_temperature_c = self._mean(values["temperature_c"]) if "temperature_c" in values else math.nan
        elif kind == "eis":
            names = RAGGED["eis"][1]
            if all(name in values for name in names):
                arrays = tuple(np.asarray(values[name], dtype=np.float64).ravel() for name in names)
                if len({len(a) for a in arrays}) == 1:
                    self._row.ragged["eis"] = arrays
            numbers["soc"] = self._mean(values["soc"]) if "soc" in values else math.nan
            self._eis_temperature_c = self._mean(values["temperature_c"]) if "temperature_c" in values else math.nan

    def finish(self, status: str, reason: str, finished_utc: str) -> None:
        if self._row is not None:
            self._row.strings.update(status=status, reason=reason, finished_utc=finished_utc)

    def row(self) -> RecordRow | None:
        if self._row is not None:
            temperature_c = self._eis_temperature_c
            self._row.numbers["temperature_c"] = self._ocv_temperature_c if math.isnan(temperature_c) else temperature_c
        return self._row
