"""Crash safety with real SIGKILLs: earlier records intact, the file readable, the killed record incomplete."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.store import RunStore, list_records, load_batch

CHILD_PRELUDE = """
import sys, numpy as np
from bench.profiles import cell_type_dict, load_profile
from bench.store import RecordMeta, RunStore
profile = load_profile("quick-grade")
def meta(cell_id):
    return RecordMeta(cell_id=cell_id, slot=1, station="s", operator="o", profile_name=profile.name,
                      profile_text=profile.text, profile_sha256=profile.sha256,
                      cell_type=cell_type_dict(profile.cell_type), instruments={}, software_version="t")
store = RunStore(sys.argv[1])
"""

KILLED_MID_SERIES = CHILD_PRELUDE + """
with store.begin_record(meta("done-1")) as record:
    record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.7, "temperature_c": 25.0})
    record.finish("complete")
with store.begin_record(meta("killed")) as record:
    record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.6, "temperature_c": 25.0})
    with record.open_series("discharge", kind="cc_discharge", columns=("time_s", "voltage_v")) as series:
        t = 0.0
        while True:
            series.append(time_s=np.arange(t, t + 32), voltage_v=np.full(32, 3.5))
            t += 32
            if t == 320:
                print("appended", flush=True)
"""

RECORD_LOOP = CHILD_PRELUDE + """
n = 0
while True:
    n += 1
    with store.begin_record(meta(f"loop-{n}")) as record:
        record.write_spectrum("eis", kind="eis", frequency_hz=np.geomspace(1000, 1, 13),
                              z_real_ohm=np.full(13, 0.05), z_imag_ohm=np.full(13, -0.01), temperature_c=25.0)
        record.finish("complete")
    print(f"finished loop-{n}", flush=True)
"""


def start_child(tmp_path: Path, script: str) -> subprocess.Popen:
    source = tmp_path / "child.py"
    source.write_text(textwrap.dedent(script))
    return subprocess.Popen([sys.executable, str(source), str(tmp_path / "run.h5")], stdout=subprocess.PIPE, text=True)


def test_sigkill_mid_series_keeps_earlier_records_and_marks_the_record_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    child = start_child(tmp_path, KILLED_MID_SERIES)
    assert child.stdout.readline().strip() == "appended"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    summaries = list_records(path)  # a reader, before any writer recovers the journal
    assert [(s.cell_id, s.status) for s in summaries] == [("done-1", "complete"), ("killed", "incomplete")]
    with h5py.File(path, "r") as handle:  # plain h5py opens it too
        assert handle["records/r000001/steps/ocv/voltage_v"][()] == 3.7

    RunStore(path)  # the next writer merges what the dead process had captured
    assert not list(tmp_path.glob(".run.h5.*.journal"))
    summaries = list_records(path)
    assert [s.status for s in summaries] == ["complete", "incomplete"]
    assert "stopped before it finished" in summaries[1].reason
    with h5py.File(path, "r") as handle:
        rows = handle["records/r000002/steps/discharge/time_s"].shape[0]
        assert rows >= 320 and rows % 32 == 0  # every flushed append survived
        assert handle["records/r000002/steps/ocv/voltage_v"][()] == 3.6
    batch = load_batch([path])
    assert list(batch.status) == ["complete", "incomplete"]
    assert batch.ocv_v[1] == 3.6


@pytest.mark.parametrize("kill_after_s", [0.05, 0.15, 0.3, 0.45, 0.6])
def test_sigkill_at_any_moment_leaves_a_readable_file_with_every_finished_record(tmp_path: Path, kill_after_s: float) -> None:
    path = tmp_path / "run.h5"
    child = start_child(tmp_path, RECORD_LOOP)
    assert child.stdout.readline().startswith("finished loop-1")
    time.sleep(kill_after_s)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    finished = 1 + sum(1 for line in child.stdout.read().splitlines() if line.startswith("finished"))

    summaries = list_records(path)
    complete = [s for s in summaries if s.status == "complete"]
    assert len(complete) >= finished
    assert all(s.status in ("complete", "incomplete") for s in summaries)
    assert len(summaries) - len(complete) <= 1  # at most the record being written when the kill came
    RunStore(path)
    after = list_records(path)
    assert [s.cell_id for s in after] == [s.cell_id for s in summaries]
    assert len([s for s in after if s.status == "complete"]) >= finished
    batch = load_batch([path])
    done = batch.status == "complete"
    assert np.all(batch.z_real_ohm[done, :13] == 0.05)
    assert not list(tmp_path.glob(".run.h5.*.tmp"))


def test_a_damaged_journal_is_kept_aside_and_the_record_stays_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    child = start_child(tmp_path, KILLED_MID_SERIES)
    assert child.stdout.readline().strip() == "appended"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    journal = tmp_path / ".run.h5.r000002.journal"
    journal.write_bytes(journal.read_bytes()[:300])  # as if the kill had torn the journal itself
    RunStore(path)
    assert (tmp_path / ".run.h5.r000002.journal.unreadable").exists()
    assert [s.status for s in list_records(path)] == ["complete", "incomplete"]


def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    script = CHILD_PRELUDE + """
for n in range(6):
    with store.begin_record(meta(f"{sys.argv[2]}-{n}")) as record:
        record.write_scalars("ocv", kind="ocv", values={"voltage_v": 3.7})
        record.finish("complete")
"""
    source = tmp_path / "writer.py"
    source.write_text(textwrap.dedent(script))
    writers = [subprocess.Popen([sys.executable, str(source), str(tmp_path / "run.h5"), name]) for name in ("a", "b")]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    summaries = list_records(tmp_path / "run.h5")
    assert sorted(s.cell_id for s in summaries) == sorted(f"{w}-{n}" for w in "ab" for n in range(6))
    assert len({s.key for s in summaries}) == 12 and {s.status for s in summaries} == {"complete"}
