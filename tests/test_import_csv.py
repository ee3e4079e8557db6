"""CSV import: exact float64 round trip, one record per measurement, one-line errors and nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.import_csv import CsvImportError, import_csv, read_measurements
from bench.store import list_records, load_batch

HEADER = "cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm,temperature_c,soc,capacity_ah\n"


def write_csv(tmp_path: Path, text: str, name: str = "spectra.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def random_csv(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    """Values with full float64 precision (repr), several cells and measurements, interleaved order."""
    expected: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    rows = []
    for cell in range(3):
        for measurement in range(2):
            key = (f"CELL-{cell}", f"M{cell}-{measurement}")
            n = int(rng.integers(5, 30))
            values = {
                "frequency_hz": np.sort(rng.uniform(0.01, 20000.0, n))[::-1],
                "z_real_ohm": rng.uniform(0.01, 0.2, n),
                "z_imag_ohm": rng.normal(0.0, 0.05, n),
            }
            expected[key] = values | {"temperature_c": 20.0 + cell, "soc": rng.uniform(0, 1), "capacity_ah": rng.uniform(1, 3)}
            for i in range(n):
                rows.append([*key, *(repr(float(values[c][i])) for c in ("frequency_hz", "z_real_ohm", "z_imag_ohm")),
                             repr(20.0 + cell), repr(expected[key]["soc"]), repr(expected[key]["capacity_ah"])])
    path = tmp_path / "spectra.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.strip().split(","))
        writer.writerows(rows)
    return path, expected


def test_round_trip_is_exact_float64(tmp_path: Path) -> None:
    path, expected = random_csv(tmp_path, np.random.default_rng(7))
    out = tmp_path / "imported.h5"
    result = import_csv(path, out)
    assert (result.measurements, result.cells) == (6, 3)
    batch = load_batch([out])
    assert list(zip(batch.cell_id, batch.measurement_id)) == list(expected)
    assert set(batch.status) == {"complete"}
    for row, values in enumerate(expected.values()):
        n = len(values["frequency_hz"])
        for name in ("frequency_hz", "z_real_ohm", "z_imag_ohm"):
            np.testing.assert_array_equal(getattr(batch, name)[row, :n], values[name])  # bit-exact
            assert np.isnan(getattr(batch, name)[row, n:]).all()
        assert batch.soc[row] == values["soc"]
        assert batch.reference_capacity_ah[row] == values["capacity_ah"]
        assert batch.temperature_c[row] == values["temperature_c"]
    assert set(batch.profile_name) == {"quick-grade"}
    with h5py.File(out, "r") as handle:
        record = handle["records/r000001"]
        assert record.attrs["imported_from"] == "spectra.csv" and record.attrs["station"] == "csv-import"
        assert record["steps/eis/z_imag_ohm"].attrs["units"] == "ohm"


def test_optional_columns_absent_and_nominal_capacity_override(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "measurement_id,cell_id,frequency_hz,z_real_ohm,z_imag_ohm,nominal_capacity_ah,note\n"
                               "m1,c1,100,0.05,-0.01,3.0,x\nm1,c1,10,0.06,-0.02,3.0,y\n")
    result = import_csv(path, tmp_path / "out.h5", profile_name="eis")
    assert result.ignored_columns == ("note",)
    batch = load_batch([tmp_path / "out.h5"])
    assert np.isnan(batch.soc[0]) and np.isnan(batch.temperature_c[0]) and np.isnan(batch.reference_capacity_ah[0])
    assert batch.nominal_capacity_ah[0] == 3.0 and batch.profile_name[0] == "eis"


def test_appends_to_an_existing_file_and_refuses_a_second_import_of_the_same_measurement(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    import_csv(write_csv(tmp_path, HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\n", "a.csv"), out)
    import_csv(write_csv(tmp_path, HEADER + "c2,m2,100,0.05,-0.01,25,0.5,2.4\n", "b.csv"), out)
    assert [(s.key, s.measurement_id) for s in list_records(out)] == [("r000001", "m1"), ("r000002", "m2")]
    before = out.read_bytes()
    with pytest.raises(CsvImportError, match="'m1' of cell 'c1' is already in"):
        import_csv(tmp_path / "a.csv", out)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("cell_id,frequency_hz,z_real_ohm,z_imag_ohm\nc1,1,2,3\n", "line 1: missing column(s) measurement_id"),
        (HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\nc1,m1,abc,0.05,-0.01,25,0.5,2.4\n", "line 3, column frequency_hz: 'abc' is not a number"),
        (HEADER + "c1,m1,nan,0.05,-0.01,25,0.5,2.4\n", "line 2, column frequency_hz: 'nan' is not a finite number"),
        (HEADER + "c1,m1,-5,0.05,-0.01,25,0.5,2.4\n", "line 2, column frequency_hz: '-5' is out of range"),
        (HEADER + "c1,m1,0,0.05,-0.01,25,0.5,2.4\n", "line 2, column frequency_hz: '0' is out of range"),
        (HEADER + "c1,m1,100,,-0.01,25,0.5,2.4\n", "line 2, column z_real_ohm: '' is not a number"),
        (HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\nc1,m1,10,0.05,-0.01,25,0.6,2.4\n", "line 3, column soc: '0.6' differs from '0.5' on line 2"),
        (HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\nc1,m1,10,0.05,-0.01,25,0.5,\n", "line 3, column capacity_ah"),
        (HEADER + "c1,m1,100,0.05,-0.01,25,50,2.4\n", "line 2, column soc: '50' is out of range (0..1, a fraction)"),
        (HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\nc1,m1,100,0.06,-0.01,25,0.5,2.4\n", "line 3, column frequency_hz: 100 Hz already appears on line 2"),
        (HEADER + "\"c1\nx\",m1,100,0.05,-0.01,25,0.5,2.4\n", "column cell_id: value 'c1\\nx' contains a control"),
        (HEADER + ",m1,100,0.05,-0.01,25,0.5,2.4\n", "line 2, column cell_id: value '' is empty"),
        (HEADER + "c1,m1,100,0.05\n", "line 2: 4 fields where the header has 8"),
        (HEADER, "no data rows"),
        ("", "the file is empty"),
    ],
)
def test_errors_name_file_line_and_column_and_write_nothing(tmp_path: Path, body: str, expected: str) -> None:
    path = write_csv(tmp_path, body)
    out = tmp_path / "out.h5"
    with pytest.raises(CsvImportError) as info:
        import_csv(path, out)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name not in ("spectra.csv", ".out.h5.lock")]


def test_error_leaves_an_existing_output_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    import_csv(write_csv(tmp_path, HEADER + "c1,m1,100,0.05,-0.01,25,0.5,2.4\n", "good.csv"), out)
    before = out.read_bytes()
    with pytest.raises(CsvImportError):
        import_csv(write_csv(tmp_path, HEADER + "c2,m2,100,0.05,x,25,0.5,2.4\n", "bad.csv"), out)
    assert out.read_bytes() == before


def test_rows_of_one_measurement_may_be_interleaved_with_others(tmp_path: Path) -> None:
    body = HEADER + "a,1,100,1,0,,,\nb,1,100,2,0,,,\na,1,10,3,0,,,\n"
    measurements, _ = read_measurements(write_csv(tmp_path, body))
    assert [(m.cell_id, m.measurement_id, list(m.z_real_ohm)) for m in measurements] == [("a", "1", [1.0, 3.0]), ("b", "1", [2.0])]
    assert [m.first_line for m in measurements] == [2, 3]


def test_summary_of_imported_records_matches_the_records(tmp_path: Path) -> None:
    from test_store import assert_batches_equal

    path, _expected = random_csv(tmp_path, np.random.default_rng(11))
    out = tmp_path / "imported.h5"
    import_csv(path, out)
    cached = load_batch([out])
    with h5py.File(out, "r+") as handle:
        del handle["summary"]
    assert_batches_equal(cached, load_batch([out]))
