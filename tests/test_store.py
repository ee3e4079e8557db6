"""The HDF5 store: round trip read back with plain h5py as docs/hdf5-format.md describes, errors, batches."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.profiles import cell_type_dict, load_profile
from bench.store import RecordMeta, RunStore, StoreError, list_records, load_batch

SERIES_COLUMNS = ("time_s", "voltage_v", "current_a", "temperature_c")


def make_meta(cell_id: str = "C-001", profile: str = "quick-grade", **extra) -> RecordMeta:
    loaded = load_profile(profile)
    return RecordMeta(
        cell_id=cell_id, slot=1, station="test-station", operator="anna", profile_name=loaded.name,
        profile_text=loaded.text, profile_sha256=loaded.sha256, cell_type=cell_type_dict(loaded.cell_type),
        instruments={"bt4560": "HIOKI,BT4560,123,V1.0"}, software_version="9.9", **extra,
    )


def write_full_record(store: RunStore, cell_id: str, *, rng: np.random.Generator, n_pulse: int = 100) -> dict:
    frequency_hz = np.geomspace(1050.0, 0.1, 21)
    z_real_ohm = rng.uniform(0.02, 0.08, 21)
    z_imag_ohm = -rng.uniform(0.0, 0.02, 21)
    pulse = {c: rng.normal(size=n_pulse) for c in SERIES_COLUMNS}
    with store.begin_record(make_meta(cell_id)) as record:
        record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.71, "temperature_c": 24.8})
        record.write_spectrum("eis", kind="eis", frequency_hz=frequency_hz, z_real_ohm=z_real_ohm,
                              z_imag_ohm=z_imag_ohm, voltage_v=np.full(21, 3.7), temperature_c=25.5)
        with record.open_series("pulse", kind="pulse", columns=SERIES_COLUMNS) as series:
            for start in range(0, n_pulse, 32):
                series.append(**{c: v[start:start + 32] for c, v in pulse.items()})
        record.set_attrs(step_pulse_end="timeout")
        record.finish("complete")
    return {"frequency_hz": frequency_hz, "z_real_ohm": z_real_ohm, "z_imag_ohm": z_imag_ohm, "pulse": pulse}


def test_round_trip_with_plain_h5py_as_documented(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    written = write_full_record(RunStore(path), "C-001", rng=np.random.default_rng(1))
    with h5py.File(path, "r") as handle:
        assert handle.attrs["format"] == "bench-hdf5" and handle.attrs["format_version"] == 1
        record = handle["records/r000001"]
        assert record.attrs["cell_id"] == "C-001" and record.attrs["status"] == "complete"
        assert record.attrs["profile_name"] == "quick-grade" and record.attrs["operator"] == "anna"
        assert record.attrs["started_utc"].endswith("+00:00") and record.attrs["finished_utc"] >= record.attrs["started_utc"]
        assert record.attrs["step_pulse_end"] == "timeout"
        assert record["instruments"].attrs["bt4560"] == "HIOKI,BT4560,123,V1.0"
        assert record["cell_type"].attrs["nominal_capacity_ah"] == 2.5
        assert record["profile_toml"][()].decode() == load_profile("quick-grade").text
        steps = record["steps"]
        assert list(steps) == ["ocv", "eis", "pulse"]
        assert [steps[s].attrs["kind"] for s in steps] == ["ocv", "eis", "pulse"]
        assert steps["ocv/voltage_v"][()] == 3.71 and steps["ocv/voltage_v"].attrs["units"] == "V"
        for name, unit in (("frequency_hz", "Hz"), ("z_real_ohm", "ohm"), ("z_imag_ohm", "ohm")):
            np.testing.assert_array_equal(steps["eis"][name][()], written[name])
            assert steps["eis"][name].attrs["units"] == unit
        assert steps["eis/temperature_c"].attrs["units"] == "degC"
        series = steps["pulse/voltage_v"]
        assert series.chunks is not None and series.compression == "gzip" and series.maxshape == (None,)
        for column in SERIES_COLUMNS:
            np.testing.assert_array_equal(steps["pulse"][column][()], written["pulse"][column])

        def check_units(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                assert "units" in obj.attrs, name

        handle.visititems(check_units)
    assert not list(tmp_path.glob(".run.h5.*journal*")), "the journal is merged and removed"


def test_load_batch_fills_every_field(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    store = RunStore(path)
    rng = np.random.default_rng(2)
    first = write_full_record(store, "C-001", rng=rng)
    with store.begin_record(make_meta("C-002", profile="capacity")) as record:
        with record.open_series("discharge", kind="cc_discharge", columns=SERIES_COLUMNS) as series:
            series.append(time_s=[0.0, 10.0, 20.0], voltage_v=[4.1, 4.0, 3.9], current_a=[-0.8] * 3, temperature_c=[25.0] * 3)
        record.finish("failed", reason="safety: voltage 2.3 V below the limit")
    batch = load_batch([path])
    assert batch.n_records == 2
    assert list(batch.cell_id) == ["C-001", "C-002"]
    assert list(batch.record_key) == ["r000001", "r000002"]
    assert list(batch.measurement_id) == ["r000001", "r000002"]
    assert list(batch.status) == ["complete", "failed"]
    assert batch.status_reason[1].startswith("safety:")
    assert list(batch.profile_name) == ["quick-grade", "capacity"]
    assert list(batch.chemistry) == ["nmc", "nmc"] and list(batch.cell_type) == ["nmc-18650-2.5ah"] * 2
    np.testing.assert_array_equal(batch.nominal_capacity_ah, [2.5, 2.5])
    np.testing.assert_array_equal(batch.reference_r0_ohm, [0.030, 0.030])
    assert batch.frequency_hz.shape == (2, 21)
    np.testing.assert_array_equal(batch.z_imag_ohm[0], first["z_imag_ohm"])
    assert np.isnan(batch.z_real_ohm[1]).all()
    assert batch.temperature_c[0] == 25.5 and math.isnan(batch.temperature_c[1])
    assert batch.ocv_v[0] == 3.71 and np.isnan(batch.soc).all() and np.isnan(batch.reference_capacity_ah).all()
    assert list(batch.pulse.lengths()) == [100, 0]
    np.testing.assert_array_equal(batch.pulse.current_a, first["pulse"]["current_a"])
    assert list(batch.discharge.lengths()) == [0, 3]
    np.testing.assert_array_equal(batch.discharge.voltage_v, [4.1, 4.0, 3.9])
    assert set(batch.rules_key) == set(batch.rules_by_key) and len(batch.rules_by_key) == 2
    rules = batch.rules_by_key[batch.rules_key[0]]
    assert rules["grades"][0]["name"] == "A" and rules["cell_type"]["reference_r0_ohm"] == 0.030


def test_load_batch_over_several_files_keeps_their_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for name in ("a.h5", "b.h5"):
        write_full_record(RunStore(tmp_path / name), f"cell-{name}", rng=rng)
    batch = load_batch([tmp_path / "b.h5", tmp_path / "a.h5"])
    assert list(batch.cell_id) == ["cell-b.h5", "cell-a.h5"]
    assert batch.source_file[0].endswith("b.h5")


def test_leaving_the_block_without_finish_marks_aborted_with_reason(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run.h5")
    with pytest.raises(RuntimeError):
        with store.begin_record(make_meta()) as record:
            record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.7})
            raise RuntimeError("driver fell over")
    with store.begin_record(make_meta("C-002")):
        pass
    summaries = list_records(tmp_path / "run.h5")
    assert [s.status for s in summaries] == ["aborted", "aborted"]
    assert "driver fell over" in summaries[0].reason
    assert summaries[0].finished_utc


def test_records_are_added_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_full_record(RunStore(path), "first", rng=np.random.default_rng(0))
    write_full_record(RunStore(path), "second", rng=np.random.default_rng(0))
    assert [(s.key, s.cell_id) for s in list_records(path)] == [("r000001", "first"), ("r000002", "second")]


def test_status_must_be_known_and_step_names_unique(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run.h5")
    with store.begin_record(make_meta()) as record:
        with pytest.raises(StoreError, match="status 'done'"):
            record.finish("done")
        record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.7})
        with pytest.raises(StoreError, match="already"):
            record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.7})
        with pytest.raises(StoreError, match="cannot name a group"):
            record.write_scalars("../x", kind="ocv", values={"voltage_v": 3.7})
        with pytest.raises(StoreError, match="reserved"):
            record.set_attrs(status="complete")
        record.finish("complete")
    assert list_records(tmp_path / "run.h5")[0].status == "complete"


def test_not_hdf5_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_text("just text\n")
    for action in (lambda: RunStore(path), lambda: list_records(path), lambda: load_batch([path])):
        with pytest.raises(StoreError, match="is not an HDF5 file"):
            action()
    assert path.read_text() == "just text\n"


def test_foreign_hdf5_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = [1, 2, 3]
    with pytest.raises(StoreError, match="not a bench file"):
        RunStore(path)
    with pytest.raises(StoreError, match="not a bench file"):
        list_records(path)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.h5"
    RunStore(path)
    with h5py.File(path, "r+") as handle:
        handle.attrs["format_version"] = 2
    with pytest.raises(StoreError, match="format version 2.*upgrade bench"):
        RunStore(path)
    with pytest.raises(StoreError, match="upgrade bench"):
        load_batch([path])


def test_truncated_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_full_record(RunStore(path), "C-001", rng=np.random.default_rng(0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError) as info:
        list_records(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file_for_reading_and_missing_folder_for_writing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        list_records(tmp_path / "nope.h5")
    with pytest.raises(StoreError, match="folder"):
        RunStore(tmp_path / "no-dir" / "run.h5")


def test_series_grows_on_disk_append_by_append(tmp_path: Path) -> None:
    """Each append is flushed to the journal, so a reader of the journal sees it before the record ends."""
    path = tmp_path / "run.h5"
    store = RunStore(path)
    with store.begin_record(make_meta()) as record:
        with record.open_series("rest", kind="rest", columns=("time_s", "voltage_v")) as series:
            series.append(time_s=np.arange(10.0), voltage_v=np.ones(10))
            journal = next(tmp_path.glob(".run.h5.r000001.journal"))
            assert list_records(path)[0].status == "incomplete"  # readers see the stub meanwhile
            series.append(time_s=np.arange(10.0, 15.0), voltage_v=np.ones(5))
        record.finish("complete")
    assert not journal.exists()
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["records/r000001/steps/rest/time_s"][()], np.arange(15.0))


def assert_batches_equal(a, b) -> None:
    for name in ("source_file", "record_key", "cell_id", "measurement_id", "status", "status_reason", "profile_name",
                 "rules_key", "cell_type", "chemistry"):
        assert list(getattr(a, name)) == list(getattr(b, name)), name
    for name in ("nominal_capacity_ah", "nominal_voltage_v", "reference_r0_ohm", "frequency_hz", "z_real_ohm",
                 "z_imag_ohm", "temperature_c", "soc", "ocv_v", "reference_capacity_ah"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("discharge", "pulse"):
        for column in ("offsets", "time_s", "voltage_v", "current_a"):
            np.testing.assert_array_equal(getattr(getattr(a, name), column), getattr(getattr(b, name), column))
    assert a.rules_by_key == b.rules_by_key


def test_summary_cache_matches_the_records_and_is_rebuilt_when_stale(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    store = RunStore(path)
    rng = np.random.default_rng(5)
    for n in range(3):
        write_full_record(store, f"C-{n}", rng=rng, n_pulse=20 + 40 * n)
    with store.begin_record(make_meta("C-cap", profile="capacity")) as record:
        with record.open_series("discharge", kind="cc_discharge", columns=SERIES_COLUMNS) as series:
            series.append(time_s=[0.0, 1.0], voltage_v=[4.0, 3.9], current_a=[-0.8, -0.8], temperature_c=[25.0, 25.0])
        record.finish("complete")
    cached = load_batch([path])
    with h5py.File(path, "r+") as handle:  # a plain-h5py user who does not know the cache
        assert "summary" in handle
        del handle["summary"]
    uncached = load_batch([path])
    assert_batches_equal(cached, uncached)
    with h5py.File(path, "r+") as handle:  # a plain-h5py edit that leaves the cache stale
        handle["records"].copy("r000001", "r000099")
    stale = load_batch([path])
    assert list(stale.record_key) == ["r000001", "r000002", "r000003", "r000004", "r000099"]
    write_full_record(RunStore(path), "C-new", rng=rng)
    with h5py.File(path, "r") as handle:
        assert "summary" in handle
    assert list(load_batch([path]).record_key)[-1] == "r000100"


def test_load_batch_of_no_files_and_of_an_empty_file(tmp_path: Path) -> None:
    assert load_batch([]).n_records == 0
    RunStore(tmp_path / "empty.h5")
    batch = load_batch([tmp_path / "empty.h5"])
    assert batch.n_records == 0 and batch.frequency_hz.shape[0] == 0 and batch.pulse.n_records == 0
    assert list_records(tmp_path / "empty.h5") == []


def test_bulk_records_summarized_while_written_match_the_records(tmp_path: Path) -> None:
    from bench.store import add_records

    path = tmp_path / "bulk.h5"

    def write(bulk) -> None:
        first = bulk.new_record(make_meta("B-1", measurement_id="m-1", reference_capacity_ah=2.2))
        first.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.65, "temperature_c": 22.0})
        first.write_spectrum("eis", kind="eis", frequency_hz=[100.0, 10.0], z_real_ohm=[0.03, 0.04],
                             z_imag_ohm=[-0.001, -0.003], temperature_c=[24.0, 26.0], soc=0.4)
        first.write_spectrum("eis_2", kind="eis", frequency_hz=[5.0], z_real_ohm=[9.0], z_imag_ohm=[9.0])
        first.finish("complete")
        second = bulk.new_record(make_meta("B-2"))
        second.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.6, "temperature_c": 21.0})
        with second.open_series("pulse", kind="pulse", columns=("time_s", "voltage_v", "current_a")) as series:
            series.append(time_s=[0.0, 1.0], voltage_v=[3.6, 3.5], current_a=[0.0, -1.0])
        second.finish("failed", reason="safety")
        bulk.new_record(make_meta("B-3"))  # never finished

    assert add_records(path, write) == ["r000001", "r000002", "r000003"]
    cached = load_batch([path])
    assert list(cached.status) == ["complete", "failed", "aborted"]
    assert cached.temperature_c[0] == 25.0 and cached.temperature_c[1] == 21.0 and cached.soc[0] == 0.4
    np.testing.assert_array_equal(cached.frequency_hz[0], [100.0, 10.0])
    with h5py.File(path, "r+") as handle:
        del handle["summary"]
    assert_batches_equal(cached, load_batch([path]))


def test_bulk_write_that_raises_leaves_no_file(tmp_path: Path) -> None:
    from bench.store import add_records

    def write(bulk) -> None:
        bulk.new_record(make_meta("X")).finish("complete")
        raise ValueError("bad input found late")

    with pytest.raises(ValueError):
        add_records(tmp_path / "new.h5", write)
    assert not (tmp_path / "new.h5").exists()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_commits_keep_the_file_permissions(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    RunStore(path)
    path.chmod(0o640)
    write_full_record(RunStore(path), "C-1", rng=np.random.default_rng(0))
    assert path.stat().st_mode & 0o777 == 0o640


def test_cell_type_ocv_table_is_stored_as_float_arrays_and_loaded_as_tuples(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_full_record(RunStore(path), "C-001", rng=np.random.default_rng(4))
    expected = load_profile("quick-grade").cell_type
    with h5py.File(path, "r") as handle:
        attrs = handle["records/r000001/cell_type"].attrs
        assert attrs["ocv_soc"].dtype == np.float64 and attrs["ocv_soc"].shape == (len(expected.ocv_soc),)
        np.testing.assert_array_equal(attrs["ocv_voltage_v"], expected.ocv_voltage_v)
    rules = load_batch([path]).rules_by_key[load_profile("quick-grade").sha256]
    assert rules["cell_type"]["ocv_soc"] == expected.ocv_soc
    assert rules["cell_type"]["ocv_voltage_v"] == expected.ocv_voltage_v


def test_cell_type_without_ocv_table_writes_no_table_attributes(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    meta = make_meta()
    meta.cell_type.update(ocv_soc=(), ocv_voltage_v=())
    with RunStore(path).begin_record(meta) as record:
        record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.71})
        record.finish("complete")
    with h5py.File(path, "r") as handle:
        assert "ocv_soc" not in handle["records/r000001/cell_type"].attrs
    cell_type = load_batch([path]).rules_by_key[meta.profile_sha256]["cell_type"]
    assert "ocv_soc" not in cell_type and cell_type["name"] == "nmc-18650-2.5ah"


def test_records_written_before_the_ocv_table_still_load(tmp_path: Path) -> None:
    """A file from before cell types had an OCV table: remove the attributes with plain h5py, no summary."""
    path = tmp_path / "old.h5"
    write_full_record(RunStore(path), "C-001", rng=np.random.default_rng(5))
    with h5py.File(path, "r+") as handle:
        attrs = handle["records/r000001/cell_type"].attrs
        del attrs["ocv_soc"], attrs["ocv_voltage_v"]
        del handle["summary"]
    batch = load_batch([path])
    assert batch.n_records == 1 and batch.ocv_v[0] == 3.71
    assert "ocv_soc" not in batch.rules_by_key[batch.rules_key[0]]["cell_type"]
    assert batch.rules_by_key[batch.rules_key[0]]["cell_type"]["nominal_capacity_ah"] == 2.5


def test_rules_come_from_the_latest_record_of_a_profile_so_a_refined_cell_type_applies(tmp_path: Path) -> None:
    """An old record without the OCV table, then a new one with it, same profile: the batch sees the table."""
    path = tmp_path / "run.h5"
    store = RunStore(path)
    rng = np.random.default_rng(6)
    write_full_record(store, "C-001", rng=rng)
    with h5py.File(path, "r+") as handle:
        attrs = handle["records/r000001/cell_type"].attrs
        del attrs["ocv_soc"], attrs["ocv_voltage_v"]
        del handle["summary"]
    write_full_record(store, "C-002", rng=rng)
    batch = load_batch([path])
    assert len(batch.rules_by_key) == 1
    assert batch.rules_by_key[batch.rules_key[0]]["cell_type"]["ocv_soc"] == load_profile("quick-grade").cell_type.ocv_soc
    older = tmp_path / "older.h5"
    write_full_record(RunStore(older), "C-000", rng=rng)
    with h5py.File(older, "r+") as handle:
        del handle["records/r000001/cell_type"].attrs["ocv_soc"]
        del handle["summary"]
    with h5py.File(older, "r+") as handle:
        handle["records/r000001"].attrs["started_utc"] = "2001-01-01T00:00:00.000+00:00"
    for files in ([path, older], [older, path]):  # whatever the order of the files, the newest record's cell type
        assert "ocv_soc" in load_batch(files).rules_by_key[batch.rules_key[0]]["cell_type"]
    with h5py.File(older, "r+") as handle:
        handle["records/r000001"].attrs["started_utc"] = "2999-01-01T00:00:00.000+00:00"
    for files in ([path, older], [older, path]):
        assert "ocv_soc" not in load_batch(files).rules_by_key[batch.rules_key[0]]["cell_type"]
