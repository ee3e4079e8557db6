"""Reading bench files: record summaries for `bench show`, and a `RecordBatch` for the estimator.

Readers never modify a file. A record whose writer died shows as `incomplete` (its stub);
its journal is merged by the next writer (`RunStore`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.records import RaggedSeries, RecordBatch
from bench.store.format import (
    CELL_TYPE_GROUP,
    FINAL_STATUSES,
    INCOMPLETE,
    PROFILE_DATASET,
    RECORDS_GROUP,
    STEPS_GROUP,
    StoreError,
    key_number,
    open_bench_file,
    text,
)


@dataclass(frozen=True)
class RecordSummary:
    key: str
    cell_id: str
    measurement_id: str
    profile_name: str
    started_utc: str
    finished_utc: str
    status: str
    reason: str


def _records(handle: h5py.File) -> list[tuple[str, h5py.Group]]:
    if RECORDS_GROUP not in handle:
        return []
    group = handle[RECORDS_GROUP]
    keys = sorted(group.keys(), key=lambda k: (key_number(k), k))
    return [(k, group[k]) for k in keys]


def _status(attrs: h5py.AttributeManager) -> str:
    status = text(attrs.get("status", ""))
    return status if status in FINAL_STATUSES else INCOMPLETE


def list_records(path: str | Path) -> list[RecordSummary]:
    """One summary per record, in the order they were started."""
    path = Path(path)
    with open_bench_file(path) as handle:
        try:
            out = []
            for key, group in _records(handle):
                attrs = group.attrs
                out.append(
                    RecordSummary(
                        key=key,
                        cell_id=text(attrs.get("cell_id", "")),
                        measurement_id=text(attrs.get("measurement_id", key)),
                        profile_name=text(attrs.get("profile_name", "")),
                        started_utc=text(attrs.get("started_utc", "")),
                        finished_utc=text(attrs.get("finished_utc", "")),
                        status=_status(attrs),
                        reason=text(attrs.get("reason", "")),
                    )
                )
            return out
        except (OSError, KeyError, RuntimeError) as exc:
            raise StoreError(f"{path} is damaged: {' '.join(str(exc).split())[:200]}") from None


@dataclass
class _Columns:
    """Per-record values gathered while walking the files, turned into arrays once at the end."""

    strings: dict[str, list[str]]
    numbers: dict[str, list[float]]
    spectra: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    discharge: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    pulse: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


STRING_FIELDS = ("source_file", "record_key", "cell_id", "measurement_id", "status", "status_reason",
                 "profile_name", "rules_key", "cell_type", "chemistry")
NUMBER_FIELDS = ("nominal_capacity_ah", "nominal_voltage_v", "reference_r0_ohm", "temperature_c", "soc",
                 "ocv_v", "reference_capacity_ah")
EMPTY = np.zeros(0)


def _scalar(group: h5py.Group, name: str) -> float:
    """A 0-d dataset's value, or the mean of a per-point array (temperature over a sweep), or NaN."""
    if name not in group:
        return math.nan
    value = np.asarray(group[name][()], dtype=np.float64)
    if value.ndim == 0:
        return float(value)
    return float(np.nanmean(value)) if value.size and np.isfinite(value).any() else math.nan


def _series(group: h5py.Group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(  # type: ignore[return-value]
        np.asarray(group[name][()], dtype=np.float64) if name in group else EMPTY
        for name in ("time_s", "voltage_v", "current_a")
    )


def _first_steps(group: h5py.Group) -> dict[str, h5py.Group]:
    """The first step of each kind, in measurement order."""
    if STEPS_GROUP not in group:
        return {}
    steps = group[STEPS_GROUP]
    ordered = sorted(steps.items(), key=lambda item: int(item[1].attrs.get("index", 0)))
    first: dict[str, h5py.Group] = {}
    for _name, step in ordered:
        first.setdefault(text(step.attrs.get("kind", "")), step)
    return first


def _rules(group: h5py.Group, cell_type: dict[str, Any], where: str) -> dict:
    from bench.profiles import default_grading

    raw = text(group[PROFILE_DATASET][()]) if PROFILE_DATASET in group else ""
    try:
        table = tomllib.loads(raw) if raw else {}
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(f"{where}: the stored profile is not valid TOML ({exc})") from None
    rules = dict(table.get("grading") or default_grading())
    rules["cell_type"] = cell_type
    return rules


def _add_record(columns: _Columns, rules_by_key: dict, path: Path, key: str, group: h5py.Group) -> None:
    attrs = group.attrs
    cell_type = {k: (text(v) if isinstance(v, (str, bytes)) else v.item() if hasattr(v, "item") else v)
                 for k, v in group[CELL_TYPE_GROUP].attrs.items()} if CELL_TYPE_GROUP in group else {}
    sha = text(attrs.get("profile_sha256", ""))
    if sha not in rules_by_key:
        rules_by_key[sha] = _rules(group, cell_type, f"{path} record {key}")
    first = _first_steps(group)
    eis, ocv = first.get("eis"), first.get("ocv")
    temperature_c = _scalar(eis, "temperature_c") if eis is not None else math.nan
    if math.isnan(temperature_c) and ocv is not None:
        temperature_c = _scalar(ocv, "temperature_c")
    strings = {
        "source_file": str(path),
        "record_key": key,
        "cell_id": text(attrs.get("cell_id", "")),
        "measurement_id": text(attrs.get("measurement_id", key)),
        "status": _status(attrs),
        "status_reason": text(attrs.get("reason", "")),
        "profile_name": text(attrs.get("profile_name", "")),
        "rules_key": sha,
        "cell_type": str(cell_type.get("name", "")),
        "chemistry": str(cell_type.get("chemistry", "")),
    }
    numbers = {
        "nominal_capacity_ah": float(cell_type.get("nominal_capacity_ah", math.nan)),
        "nominal_voltage_v": float(cell_type.get("nominal_voltage_v", math.nan)),
        "reference_r0_ohm": float(cell_type.get("reference_r0_ohm", math.nan)),
        "temperature_c": temperature_c,
        "soc": _scalar(eis, "soc") if eis is not None else math.nan,
        "ocv_v": _scalar(ocv, "voltage_v") if ocv is not None else math.nan,
        "reference_capacity_ah": float(attrs.get("reference_capacity_ah", math.nan)),
    }
    for name, value in strings.items():
        columns.strings[name].append(value)
    for name, value in numbers.items():
        columns.numbers[name].append(value)
    if eis is not None and "frequency_hz" in eis:
        columns.spectra.append(tuple(np.asarray(eis[n][()], dtype=np.float64).ravel()  # type: ignore[arg-type]
                                     for n in ("frequency_hz", "z_real_ohm", "z_imag_ohm")))
    else:
        columns.spectra.append((EMPTY, EMPTY, EMPTY))
    columns.discharge.append(_series(first["cc_discharge"]) if "cc_discharge" in first else (EMPTY, EMPTY, EMPTY))
    columns.pulse.append(_series(first["pulse"]) if "pulse" in first else (EMPTY, EMPTY, EMPTY))


def _pad(spectra: list[tuple[np.ndarray, ...]], index: int) -> np.ndarray:
    width = max((len(s[0]) for s in spectra), default=0)
    out = np.full((len(spectra), width), np.nan)
    lengths = np.array([len(s[index]) for s in spectra], dtype=np.int64)
    if lengths.sum():
        rows = np.repeat(np.arange(len(spectra)), lengths)
        cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = np.concatenate([s[index] for s in spectra])
    return out


def _ragged(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RaggedSeries:
    if not parts:
        return RaggedSeries.empty(0)
    return RaggedSeries.from_lists([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts])


def load_batch(paths: Iterable[str | Path]) -> RecordBatch:
    """Every record of every file, as arrays (first axis = record), for the estimator."""
    columns = _Columns({n: [] for n in STRING_FIELDS}, {n: [] for n in NUMBER_FIELDS}, [], [], [])
    rules_by_key: dict[str, dict] = {}
    for raw_path in paths:
        path = Path(raw_path)
        with open_bench_file(path) as handle:
            try:
                for key, group in _records(handle):
                    _add_record(columns, rules_by_key, path, key, group)
            except (OSError, KeyError, RuntimeError, ValueError) as exc:
                raise StoreError(f"{path} is damaged: {' '.join(str(exc).split())[:200]}") from None
    strings = {n: np.array(v, dtype=str) if v else np.zeros(0, dtype=str) for n, v in columns.strings.items()}
    numbers = {n: np.array(v, dtype=np.float64) for n, v in columns.numbers.items()}
    return RecordBatch(
        **strings,
        **numbers,
        frequency_hz=_pad(columns.spectra, 0),
        z_real_ohm=_pad(columns.spectra, 1),
        z_imag_ohm=_pad(columns.spectra, 2),
        discharge=_ragged(columns.discharge),
        pulse=_ragged(columns.pulse),
        rules_by_key=rules_by_key,
    )
