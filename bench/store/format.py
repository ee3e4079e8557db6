"""The bench-hdf5 layout in code: names, versions, units, attribute encoding, opening checks.

docs/hdf5-format.md is the human description of the same layout; the two change together.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "bench-hdf5"
FORMAT_VERSION = 1
RECORDS_GROUP = "records"
STEPS_GROUP = "steps"
PROFILE_DATASET = "profile_toml"
CELL_TYPE_GROUP = "cell_type"
INSTRUMENTS_GROUP = "instruments"
FINAL_STATUSES = ("complete", "failed", "aborted")
INCOMPLETE = "incomplete"
STUB_REASON = "not finished: still running, or the process writing it stopped"
RESERVED_RECORD_ATTRS = (
    "cell_id", "measurement_id", "slot", "station", "operator", "profile_name", "profile_sha256",
    "software_version", "reference_capacity_ah", "started_utc", "finished_utc", "status", "reason",
)

UNIT_SUFFIXES = (
    ("_ohm", "ohm"), ("_hz", "Hz"), ("_ah", "Ah"), ("_wh", "Wh"), ("_v", "V"), ("_a", "A"),
    ("_c", "degC"), ("_s", "s"), ("_w", "W"),
)
DIMENSIONLESS_NAMES = ("soc", "soh", "cycle", "index")


class StoreError(Exception):
    """A data file that cannot be read or written as asked; the message is one line naming the file."""


@dataclass
class RecordMeta:
    """Provenance of one record, written before the first measurement."""

    cell_id: str
    slot: int
    station: str
    operator: str
    profile_name: str
    profile_text: str
    profile_sha256: str
    cell_type: dict[str, Any]
    instruments: dict[str, str]
    software_version: str
    measurement_id: str = ""
    reference_capacity_ah: float = math.nan
    extra_attrs: dict[str, Any] = field(default_factory=dict)  # e.g. where an import came from


def units_for(name: str) -> str:
    """The unit of a quantity from its name's suffix (`voltage_v` -> "V"); "1" for dimensionless, "" if unknown."""
    lowered = name.lower()
    if lowered in DIMENSIONLESS_NAMES or lowered.endswith("_fraction"):
        return "1"
    for suffix, unit in UNIT_SUFFIXES:
        if lowered.endswith(suffix):
            return unit
    return ""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def record_key(number: int) -> str:
    return f"r{number:06d}"


def key_number(key: str) -> int:
    try:
        return int(key[1:]) if key.startswith("r") else -1
    except ValueError:
        return -1


def attr_value(value: Any) -> Any:
    """Python value -> something h5py stores as a plain attribute (dicts/lists as JSON text)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def cell_type_attr(value: Any) -> Any:
    """A cell type field -> its attribute value; None means "write nothing".

    Lists of numbers (the OCV table) become float64 array attributes, so that plain h5py
    reads them as arrays; an empty list (a cell type without that table) is left out.
    Everything else is encoded as any other attribute (`attr_value`).
    """
    if isinstance(value, (list, tuple, np.ndarray)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        return np.asarray(value, dtype=np.float64) if len(value) else None
    return attr_value(value)


def cell_type_field(value: Any) -> Any:
    """An attribute of a record's cell_type group -> a Python value (arrays -> tuples of floats, text -> str)."""
    if isinstance(value, (str, bytes)):
        return text(value)
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return tuple(float(v) for v in value.ravel())
    return value.item() if hasattr(value, "item") else value


def text(value: Any) -> str:
    """An attribute read back as text (h5py may give bytes for fixed-length strings)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return "" if value is None else str(value)


def check_step_name(step: str) -> None:
    if not step or "/" in step or step in (".", "..") or len(step) > 128:
        raise StoreError(f"step name {step!r} cannot name a group: use letters, digits, '_' or '-'")


def check_bench_root(handle: h5py.File, path: Path) -> None:
    """Refuse files this version cannot read: not bench, or a newer layout version."""
    fmt = text(handle.attrs.get("format", ""))
    if fmt != FORMAT:
        raise StoreError(f"{path} is an HDF5 file but not a bench file (no format='{FORMAT}' attribute): choose another file")
    version = handle.attrs.get("format_version")
    try:
        version_number = int(version)
    except (TypeError, ValueError):
        raise StoreError(f"{path} has an unreadable format_version {version!r}: the file is damaged") from None
    if version_number > FORMAT_VERSION:
        raise StoreError(
            f"{path} uses bench-hdf5 format version {version_number}; this bench reads up to {FORMAT_VERSION}: upgrade bench"
        )


def open_bench_file(path: Path) -> h5py.File:
    """Open a bench file read-only, with one-line errors for everything a user can hand us."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path} does not exist: check the file name")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a bench HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(str(path))
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise StoreError(f"{path} is not an HDF5 file: give a .h5 file written by bench")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be read as HDF5 (truncated or damaged?): {_one_line(exc)}; restore a copy or use another file"
        ) from None
    try:
        check_bench_root(handle, path)
        if RECORDS_GROUP in handle and not isinstance(handle[RECORDS_GROUP], h5py.Group):
            raise StoreError(f"{path}: /{RECORDS_GROUP} is not a group: the file is damaged")
    except BaseException:
        handle.close()
        raise
    return handle


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
