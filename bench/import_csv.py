"""Import impedance spectra measured elsewhere (CSV, one row per frequency point) into a bench file.

Why: the estimator is calibrated on records that have both a quick test and a reference
capacity, and such data often comes from another lab's potentiostat. Each
(cell_id, measurement_id) becomes one `complete` record with one `eis` step, graded by
the rules of the profile given (default quick-grade). Validation is complete before
anything is written, and the write is one atomic commit: an error leaves no trace.
Numbers are parsed as float64 and stored as such, so a round trip is exact.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import bench
from bench.cell_ids import CellIdError, validate_cell_id

REQUIRED_COLUMNS = ("cell_id", "measurement_id", "frequency_hz", "z_real_ohm", "z_imag_ohm")
OPTIONAL_COLUMNS = ("temperature_c", "soc", "capacity_ah", "nominal_capacity_ah")
CONSTANT_COLUMNS = ("soc", "capacity_ah", "nominal_capacity_ah")  # one value per measurement
IMPORT_STATION = "csv-import"


class CsvImportError(Exception):
    """The CSV cannot be imported; one line with file, line and column. Nothing was written."""


@dataclass(frozen=True)
class ImportedMeasurement:
    """One spectrum from the CSV, with the line its first row was on."""

    cell_id: str
    measurement_id: str
    first_line: int
    frequency_hz: np.ndarray
    z_real_ohm: np.ndarray
    z_imag_ohm: np.ndarray
    temperature_c: np.ndarray  # per point; NaN where not given
    soc: float
    capacity_ah: float
    nominal_capacity_ah: float


@dataclass(frozen=True)
class ImportResult:
    measurements: int
    points: int
    cells: int
    first_key: str
    last_key: str
    ignored_columns: tuple[str, ...]


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise CsvImportError(f"{path} does not exist: check the file name") from None
    except OSError as exc:
        raise CsvImportError(f"{path} cannot be read: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                rows.append(row)
                lines.append(reader.line_num)
        except UnicodeDecodeError:
            raise CsvImportError(f"{path}: not UTF-8 text: save the CSV as UTF-8") from None
        except csv.Error as exc:
            raise CsvImportError(f"{path}, line {reader.line_num}: {exc}") from None
    return header, rows, lines


def _column_index(path: Path, header: list[str]) -> dict[str, int]:
    if not header:
        raise CsvImportError(f"{path}: the file is empty; the first line must name the columns {', '.join(REQUIRED_COLUMNS)}")
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in seen:
            raise CsvImportError(f"{path}, line 1: column {name!r} appears twice")
        seen[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise CsvImportError(
            f"{path}, line 1: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}"
        )
    return seen


def _numbers(path: Path, name: str, cells: list[str], lines: list[int], *, optional: bool) -> np.ndarray:
    """Parse one column as float64 at once; find the offending line only when that fails."""
    stripped = [cell.strip() for cell in cells]
    if optional:
        stripped = [cell if cell else "nan" for cell in stripped]
    try:
        values = np.array(stripped, dtype=np.float64)
    except ValueError:
        for cell, line in zip(stripped, lines):
            try:
                float(cell)
            except ValueError:
                raise CsvImportError(f"{path}, line {line}, column {name}: {cell!r} is not a number") from None
        raise  # pragma: no cover - numpy and float() agree
    bad = ~np.isfinite(values) if not optional else np.isinf(values)
    if bad.any():
        index = int(np.argmax(bad))
        raise CsvImportError(f"{path}, line {lines[index]}, column {name}: {cells[index].strip()!r} is not a finite number")
    return values


def _check_range(path: Path, name: str, values: np.ndarray, raw: list[str], lines: list[int], ok: np.ndarray,
                 allowed: str) -> None:
    bad = ~ok & ~np.isnan(values)
    if bad.any():
        index = int(np.argmax(bad))
        raise CsvImportError(f"{path}, line {lines[index]}, column {name}: {raw[index].strip()!r} is out of range ({allowed})")


def read_measurements(path: str | Path) -> tuple[list[ImportedMeasurement], tuple[str, ...]]:
    """Parse and check the whole CSV; return its measurements in order of appearance and the ignored columns."""
    path = Path(path)
    header, rows, lines = _read_rows(path)
    index = _column_index(path, header)
    if not rows:
        raise CsvImportError(f"{path}: no data rows after the header")
    width = len(header)
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise CsvImportError(f"{path}, line {line}: {len(row)} fields where the header has {width}")
    column = {name: [row[i] for row in rows] for name, i in index.items()}
    numbers = {name: _numbers(path, name, column[name], lines, optional=False) for name in REQUIRED_COLUMNS[2:]}
    for name in OPTIONAL_COLUMNS:
        numbers[name] = _numbers(path, name, column[name], lines, optional=True) if name in index else np.full(len(rows), np.nan)
    checks = {
        "frequency_hz": (numbers["frequency_hz"] > 0, "> 0 Hz"),
        "soc": ((numbers["soc"] >= 0) & (numbers["soc"] <= 1), "0..1, a fraction"),
        "capacity_ah": (numbers["capacity_ah"] > 0, "> 0 Ah"),
        "nominal_capacity_ah": (numbers["nominal_capacity_ah"] > 0, "> 0 Ah"),
        "temperature_c": ((numbers["temperature_c"] >= -60) & (numbers["temperature_c"] <= 150), "-60..150 degC"),
    }
    for name, (ok, allowed) in checks.items():
        if name in column:
            _check_range(path, name, numbers[name], column[name], lines, ok, allowed)

    groups: dict[tuple[str, str], list[int]] = {}
    for row_index, line in enumerate(lines):
        ids = []
        for name in ("cell_id", "measurement_id"):
            try:
                ids.append(validate_cell_id(column[name][row_index]))
            except CellIdError as exc:
                detail = str(exc).replace("cell ID", "value", 1)
                raise CsvImportError(f"{path}, line {line}, column {name}: {detail}") from None
        groups.setdefault((ids[0], ids[1]), []).append(row_index)

    measurements = []
    for (cell_id, measurement_id), members in groups.items():
        rows_of = np.array(members, dtype=np.int64)
        constants = {}
        for name in CONSTANT_COLUMNS:
            values = numbers[name][rows_of]
            first = values[0]
            differs = ~((values == first) | (np.isnan(values) & np.isnan(first)))
            if differs.any():
                row = members[int(np.argmax(differs))]
                raise CsvImportError(
                    f"{path}, line {lines[row]}, column {name}: {column[name][row].strip()!r} differs from "
                    f"{column[name][members[0]].strip()!r} on line "
                    f"{lines[members[0]]}; it must be the same for every row of measurement {measurement_id!r}"
                )
            constants[name] = float(first)
        frequencies = numbers["frequency_hz"][rows_of]
        unique, counts = np.unique(frequencies, return_counts=True)
        if (counts > 1).any():
            repeated = unique[counts > 1][0]
            first_row, second_row = (members[i] for i in np.flatnonzero(frequencies == repeated)[:2])
            raise CsvImportError(
                f"{path}, line {lines[second_row]}, column frequency_hz: {column['frequency_hz'][second_row].strip()} Hz "
                f"already appears on line {lines[first_row]} "
                f"for measurement {measurement_id!r}; one row per frequency"
            )
        measurements.append(
            ImportedMeasurement(
                cell_id=cell_id,
                measurement_id=measurement_id,
                first_line=lines[members[0]],
                frequency_hz=frequencies,
                z_real_ohm=numbers["z_real_ohm"][rows_of],
                z_imag_ohm=numbers["z_imag_ohm"][rows_of],
                temperature_c=numbers["temperature_c"][rows_of],
                **constants,
            )
        )
    ignored = tuple(name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    return measurements, ignored


def import_csv(csv_path: str | Path, out_path: str | Path, *, profile_name: str = "quick-grade", operator: str = "") -> ImportResult:
    """Read, check and write all measurements of `csv_path` into `out_path` in one atomic commit."""
    from bench.profiles import cell_type_dict, load_profile
    from bench.store import BulkWriter, RecordMeta, add_records, list_records

    csv_path, out_path = Path(csv_path), Path(out_path)
    profile = load_profile(profile_name)
    measurements, ignored = read_measurements(csv_path)
    if out_path.exists():
        existing = {(r.cell_id, r.measurement_id) for r in list_records(out_path)}
        for m in measurements:
            if (m.cell_id, m.measurement_id) in existing:
                raise CsvImportError(
                    f"{csv_path}, line {m.first_line}: measurement {m.measurement_id!r} of cell {m.cell_id!r} is "
                    f"already in {out_path}; nothing imported (remove it from the CSV or write to another file)"
                )
    csv_sha256 = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    base_cell_type = cell_type_dict(profile.cell_type)

    def write(bulk: BulkWriter) -> None:
        for m in measurements:
            cell_type = dict(base_cell_type)
            if not math.isnan(m.nominal_capacity_ah):
                cell_type["nominal_capacity_ah"] = m.nominal_capacity_ah
            meta = RecordMeta(
                cell_id=m.cell_id, slot=0, station=IMPORT_STATION, operator=operator, profile_name=profile.name,
                profile_text=profile.text, profile_sha256=profile.sha256, cell_type=cell_type, instruments={},
                software_version=bench.__version__, measurement_id=m.measurement_id,
                reference_capacity_ah=m.capacity_ah,
                extra_attrs={"imported_from": csv_path.name, "imported_sha256": csv_sha256, "imported_line": m.first_line},
            )
            writer = bulk.new_record(meta)
            spectrum: dict[str, object] = {"frequency_hz": m.frequency_hz, "z_real_ohm": m.z_real_ohm, "z_imag_ohm": m.z_imag_ohm}
            temperature = m.temperature_c
            if not np.isnan(temperature).all():
                constant = np.all(temperature == temperature[0])
                spectrum["temperature_c"] = float(temperature[0]) if constant else temperature
            if not math.isnan(m.soc):
                spectrum["soc"] = m.soc
            writer.write_spectrum("eis", kind="eis", **spectrum)
            writer.finish("complete", reason="")

    keys = add_records(out_path, write)
    return ImportResult(
        measurements=len(measurements),
        points=int(sum(len(m.frequency_hz) for m in measurements)),
        cells=len({m.cell_id for m in measurements}),
        first_key=keys[0],
        last_key=keys[-1],
        ignored_columns=ignored,
    )


__all__ = ["CsvImportError", "ImportResult", "ImportedMeasurement", "import_csv", "read_measurements"]
