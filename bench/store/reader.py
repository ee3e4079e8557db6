"""Reading bench files: record summaries for `bench show`, and a `RecordBatch` for the estimator.

Readers never modify a file. A record whose writer died shows as `incomplete` (its stub);
its journal is merged by the next writer (`RunStore`). Each file is read through its
summary (`bench.store.summary`) when that matches the records, else record by record.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from bench.records import RaggedSeries, RecordBatch
from bench.store.format import PROFILE_DATASET, RECORDS_GROUP, StoreError, key_number, open_bench_file, text
from bench.store.rows import RAGGED, ROW_NUMBERS, ROW_STRINGS, cell_type_of, read_row
from bench.store.summary import SummaryColumns, read_summary

READ_ERRORS = (OSError, KeyError, RuntimeError, ValueError)


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


def _record_keys(handle: h5py.File) -> list[str]:
    if RECORDS_GROUP not in handle:
        return []
    return sorted(handle[RECORDS_GROUP].keys(), key=lambda k: (key_number(k), k))


def _file_columns(handle: h5py.File) -> SummaryColumns:
    """All rows of one file: from its summary if that is current, else record by record."""
    cached = read_summary(handle)
    if cached is not None:
        return cached
    rows = [read_row(key, handle[RECORDS_GROUP][key]) for key in _record_keys(handle)]
    strings = {name: np.array([row.strings[name] for row in rows], dtype=object) for name in ROW_STRINGS}
    numbers = {name: np.array([row.numbers[name] for row in rows], dtype=np.float64) for name in ROW_NUMBERS}
    ragged = {}
    for part, (_kind, columns) in RAGGED.items():
        counts = np.array([len(row.ragged[part][0]) for row in rows], dtype=np.int64)
        data = tuple(
            np.concatenate([row.ragged[part][i] for row in rows]) if rows else np.zeros(0) for i in range(len(columns))
        )
        ragged[part] = (counts, data)
    return SummaryColumns(strings, numbers, ragged)


def _damaged(path: Path, exc: BaseException) -> StoreError:
    return StoreError(f"{path} is damaged and cannot be read: {' '.join(str(exc).split())[:200]}")


def list_records(path: str | Path) -> list[RecordSummary]:
    """One summary per record, in the order they were started."""
    path = Path(path)
    with open_bench_file(path) as handle:
        try:
            columns = _file_columns(handle).strings
        except READ_ERRORS as exc:
            raise _damaged(path, exc) from None
    return [
        RecordSummary(
            key=columns["key"][i],
            cell_id=columns["cell_id"][i],
            measurement_id=columns["measurement_id"][i],
            profile_name=columns["profile_name"][i],
            started_utc=columns["started_utc"][i],
            finished_utc=columns["finished_utc"][i],
            status=columns["status"][i],
            reason=columns["reason"][i],
        )
        for i in range(len(columns["key"]))
    ]


def _rules(handle: h5py.File, key: str, where: str) -> dict:
    """The grading rules of the record's profile (its stored TOML), plus the record's cell type."""
    from bench.profiles import ProfileError, default_grading, validate_grading

    group = handle[RECORDS_GROUP][key]
    raw = text(group[PROFILE_DATASET][()]) if PROFILE_DATASET in group else ""
    try:
        table = tomllib.loads(raw) if raw else {}
    except tomllib.TOMLDecodeError as exc:
        raise StoreError(f"{where}: the stored profile is not valid TOML ({exc})") from None
    grading = table.get("grading")
    try:
        rules = validate_grading(where, grading) if grading is not None else default_grading()  # defaults filled in
    except ProfileError:
        rules = dict(grading) if isinstance(grading, dict) else default_grading()  # written by another version: as stored
    rules["cell_type"] = cell_type_of(group)
    return rules


def _pad(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Concatenated per-record values -> (n, longest) array, NaN-padded."""
    width = int(counts.max()) if counts.size else 0
    out = np.full((counts.size, width), np.nan)
    if values.size:
        rows = np.repeat(np.arange(counts.size), counts)
        cols = np.arange(values.size) - np.repeat(np.cumsum(counts) - counts, counts)
        out[rows, cols] = values
    return out


def _latest_per_profile(columns: SummaryColumns) -> list[tuple[str, int]]:
    """(profile hash, row of its latest-started record; the later row on a tie) for each profile in a file."""
    sha = columns.strings["profile_sha256"].astype(str)
    started = columns.strings["started_utc"].astype(str)
    order = np.lexsort((np.arange(len(sha)), started, sha))  # by profile, then start time, then row
    last_of_group = np.append(sha[order][1:] != sha[order][:-1], True) if len(sha) else np.zeros(0, dtype=bool)
    return [(str(sha[i]), int(i)) for i in order[last_of_group]]


def load_batch(paths: Iterable[str | Path]) -> RecordBatch:
    """Every record of every file, as arrays (first axis = record), for the estimator.

    Rules are read once per profile (content hash) and file, from the profile's most
    recently started record (over all files): the grading rules are the profile's own,
    so any record gives the same ones, but the cell type stored beside them may have been
    refined since the earliest records (e.g. an `[ocv]` table added), and the newest
    definition is the one to apply.
    """
    per_file: list[tuple[Path, SummaryColumns]] = []
    rules_by_key: dict[str, dict] = {}
    rules_started: dict[str, str] = {}
    for raw_path in paths:
        path = Path(raw_path)
        with open_bench_file(path) as handle:
            try:
                columns = _file_columns(handle)
                for sha, index in _latest_per_profile(columns):
                    started = str(columns.strings["started_utc"][index])
                    if sha in rules_by_key and started < rules_started[sha]:
                        continue
                    key = columns.strings["key"][index]
                    rules_by_key[sha], rules_started[sha] = _rules(handle, key, f"{path} record {key}"), started
            except READ_ERRORS as exc:
                raise _damaged(path, exc) from None
        per_file.append((path, columns))

    def strings(name: str) -> np.ndarray:
        parts = [c.strings[name].astype(str) for _p, c in per_file if len(c.strings[name])]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=str)

    def numbers(name: str) -> np.ndarray:
        return np.concatenate([c.numbers[name] for _p, c in per_file]) if per_file else np.zeros(0)

    def ragged(part: str) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        n_columns = len(RAGGED[part][1])
        counts = np.concatenate([c.ragged[part][0] for _p, c in per_file]) if per_file else np.zeros(0, dtype=np.int64)
        data = tuple(
            np.concatenate([c.ragged[part][1][i] for _p, c in per_file]) if per_file else np.zeros(0)
            for i in range(n_columns)
        )
        return counts.astype(np.int64), data

    def series(part: str) -> RaggedSeries:
        counts, (time_s, voltage_v, current_a) = ragged(part)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return RaggedSeries(offsets, time_s.astype(np.float64), voltage_v.astype(np.float64), current_a.astype(np.float64))

    source = [np.full(len(c.strings["key"]), str(p), dtype=object) for p, c in per_file]
    eis_counts, (frequency_hz, z_real_ohm, z_imag_ohm) = ragged("eis")
    return RecordBatch(
        source_file=np.concatenate(source).astype(str) if source else np.zeros(0, dtype=str),
        record_key=strings("key"),
        cell_id=strings("cell_id"),
        measurement_id=strings("measurement_id"),
        status=strings("status"),
        status_reason=strings("reason"),
        profile_name=strings("profile_name"),
        rules_key=strings("profile_sha256"),
        cell_type=strings("cell_type"),
        chemistry=strings("chemistry"),
        nominal_capacity_ah=numbers("nominal_capacity_ah"),
        nominal_voltage_v=numbers("nominal_voltage_v"),
        reference_r0_ohm=numbers("reference_r0_ohm"),
        frequency_hz=_pad(eis_counts, frequency_hz),
        z_real_ohm=_pad(eis_counts, z_real_ohm),
        z_imag_ohm=_pad(eis_counts, z_imag_ohm),
        temperature_c=numbers("temperature_c"),
        soc=numbers("soc"),
        ocv_v=numbers("ocv_v"),
        reference_capacity_ah=numbers("reference_capacity_ah"),
        discharge=series("discharge"),
        pulse=series("pulse"),
        rules_by_key=rules_by_key,
    )


PROVENANCE_ATTRS = (
    "station", "operator", "slot", "profile_name", "profile_sha256", "software_version", "started_utc",
    "finished_utc", "status", "reason", "imported_from",
)


def record_provenance(batch: RecordBatch) -> list[dict[str, str]]:
    """Who, where, with what and when, per record of a batch: for reports and certificates.

    One open per file and one attribute read per record: meant for pages that show each
    record anyway, not for the estimator's hot path.
    """
    provenance: list[dict[str, str]] = []
    handles: dict[str, h5py.File] = {}
    try:
        for source, key in zip(batch.source_file, batch.record_key):
            source = str(source)
            if source not in handles:
                handles[source] = h5py.File(source, "r")
            group = handles[source][RECORDS_GROUP][str(key)]
            entry = {"file": Path(source).name, "record": str(key)}
            entry.update({name: text(group.attrs[name]) for name in PROVENANCE_ATTRS if name in group.attrs})
            if "instruments" in group:
                entry.update({f"instrument {name}": text(idn) for name, idn in group["instruments"].attrs.items()})
            provenance.append(entry)
    except READ_ERRORS as exc:
        raise StoreError(f"cannot read the provenance of the records: {' '.join(str(exc).split())[:200]}") from None
    finally:
        for handle in handles.values():
            handle.close()
    return provenance
