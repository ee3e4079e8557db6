"""RunStore: one bench HDF5 file, written crash-safely, one record at a time.

Why not write straight into the file: HDF5 updates its internal structures (B-trees,
heaps, the superblock) in place, and a process killed in the middle of such an update
can leave the whole file unreadable, records measured hours earlier included. So the
main file is never modified in place:

1. `begin_record` commits a stub (provenance, status `incomplete`) to the main file by
   *copy, modify the copy, fsync, rename over the original*. A rename is atomic: a
   kill leaves either the old or the new file, both whole.
2. Everything the record measures goes into its own journal file beside the main file
   (`.<name>.<key>.journal`), flushed after every write. A kill can damage at most
   this one record's journal.
3. When the record ends (finished, aborted, or by an exception) its journal is copied
   over the stub, again by copy-and-rename, and then deleted.
4. Whoever opens the file for writing next merges any journal left by a dead process,
   with status `incomplete`; readers meanwhile see the stub, also `incomplete`.

Commits and recoveries of one file are serialized by an advisory lock on
`.<name>.lock`; a live writer holds a lock on its journal, so recovery never takes a
journal from a process that is still running.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from bench.store.format import (
    FORMAT,
    FORMAT_VERSION,
    RECORDS_GROUP,
    STEPS_GROUP,
    RecordMeta,
    StoreError,
    check_bench_root,
    key_number,
    open_bench_file,
    record_key,
    utc_now,
)
from bench.store.rows import RowCapture
from bench.store.summary import update_summary
from bench.store.writer import RecordWriter, mark_interrupted, write_meta

RECOVERED_REASON = "interrupted: the process writing this record stopped before it finished"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hidden(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{suffix}")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock serializing commits to one bench file (waits for other writers)."""
    lock_path = _hidden(path, "lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _create_empty(handle: h5py.File) -> None:
    handle.attrs["format"] = FORMAT
    handle.attrs["format_version"] = FORMAT_VERSION
    handle.attrs["created_utc"] = utc_now()
    handle.create_group(RECORDS_GROUP, track_order=True)


@contextmanager
def atomic_update(path: Path) -> Iterator[h5py.File]:
    """Yield a writable copy of the bench file (or a new one); it replaces `path` only if the block succeeds.

    The caller holds `file_lock(path)`.
    """
    tmp = _hidden(path, f"{os.getpid()}.tmp")
    try:
        if path.exists():
            shutil.copyfile(path, tmp)
            shutil.copymode(path, tmp)  # the replacement keeps the original's permissions
            handle = h5py.File(tmp, "r+")
        else:
            handle = h5py.File(tmp, "w", track_order=True)
            _create_empty(handle)
        try:
            check_bench_root(handle, path)
            yield handle
        finally:
            handle.close()
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def next_key(records: h5py.Group) -> str:
    return record_key(max((key_number(k) for k in records), default=0) + 1)


class _JournalLock:
    """A POSIX lock on a journal while its writer lives; recovery skips journals it cannot lock."""

    def __init__(self, journal: Path) -> None:
        self.fd = os.open(journal, os.O_RDWR)
        fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        os.close(self.fd)

    @staticmethod
    def held_by_other_process(journal: Path) -> bool:
        try:
            fd = os.open(journal, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except OSError as exc:
            return exc.errno in (errno.EACCES, errno.EAGAIN)
        finally:
            os.close(fd)


class RunStore:
    """A bench HDF5 file opened for adding records (created if absent)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists():
            open_bench_file(self.path).close()  # refuses non-bench, damaged and newer files
        elif not self.path.parent.is_dir():
            raise StoreError(f"cannot create {self.path}: the folder {self.path.parent} does not exist")
        with file_lock(self.path):
            if not self.path.exists():
                with atomic_update(self.path):
                    pass
            self._remove_stale_temporaries()
            self.recover()

    # ------------------------------------------------------------ recovery

    def journals(self) -> list[Path]:
        return sorted(self.path.parent.glob(f".{self.path.name}.r*.journal"))

    def _remove_stale_temporaries(self) -> None:
        for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            pid = tmp.name[len(self.path.name) + 2:].split(".")[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Merge journals left by dead writers as `incomplete` records; return their keys. Caller holds the lock."""
        recovered = []
        for journal in self.journals():
            if _JournalLock.held_by_other_process(journal):
                continue
            key = journal.name[len(self.path.name) + 2:].split(".")[0]
            try:
                with h5py.File(journal, "r") as probe:
                    readable = isinstance(probe.get("record"), h5py.Group)
            except OSError as exc:
                if _is_lock_error(exc):
                    continue  # HDF5's own lock: a live writer on a system without POSIX locks
                readable = False
            if readable:
                self._merge_journal(journal, key, interrupted_reason=RECOVERED_REASON)
            else:
                # The journal itself was damaged by the kill: keep it for inspection, keep the stub.
                journal.rename(journal.with_name(journal.name + ".unreadable"))
            recovered.append(key)
        return recovered

    def _merge_journal(self, journal: Path, key: str, *, interrupted_reason: str) -> None:
        """Copy a journal's record onto its stub in the main file (one atomic commit), then delete the journal.

        The stub is filled in rather than replaced: HDF5 does not reuse the space of deleted
        objects across sessions, so replacing would leave a dead stub in the file per record.
        Merging twice (killed between the rename and the unlink) changes nothing.
        """
        with h5py.File(journal, "r") as source, atomic_update(self.path) as target:
            records = target[RECORDS_GROUP]
            written = source["record"]
            if key not in records:
                source.copy(written, records, name=key)
                record = records[key]
            else:
                record = records[key]
                steps = record.require_group(STEPS_GROUP)
                for name, step in written[STEPS_GROUP].items():
                    if name not in steps:
                        source.copy(step, steps, name=name)
                for name, value in written.attrs.items():
                    record.attrs[name] = value
            mark_interrupted(record, interrupted_reason)
            update_summary(target, [key])
        journal.unlink()

    # ------------------------------------------------------------ writing

    @contextmanager
    def begin_record(self, meta: RecordMeta) -> Iterator[RecordWriter]:
        """Commit a stub, hand out a writer on the record's journal, merge it when the block ends."""
        started_utc = utc_now()
        with file_lock(self.path):
            with atomic_update(self.path) as handle:
                key = next_key(handle[RECORDS_GROUP])
                write_meta(handle[RECORDS_GROUP].create_group(key, track_order=True), key, meta, started_utc=started_utc)
                update_summary(handle, [key])
            # Created and locked while the file lock is held, so no recovery ever sees it unlocked.
            journal = _hidden(self.path, f"{key}.journal")
            handle = h5py.File(journal, "w", track_order=True)
            lock = _JournalLock(journal)
        try:
            handle.attrs["journal_of"] = self.path.name
            group = handle.create_group("record", track_order=True)
            write_meta(group, key, meta, started_utc=started_utc)
            handle.flush()
            writer = RecordWriter(group, handle.flush)
            try:
                yield writer
            except BaseException as exc:
                if not writer.finished:
                    writer.finish("aborted", reason=f"{type(exc).__name__}: {exc}".rstrip(": ")[:300])
                raise
            if not writer.finished:
                writer.finish("aborted", reason="the record was closed without a final status")
        finally:
            with file_lock(self.path):
                handle.close()
                lock.release()
                self._merge_journal(journal, key, interrupted_reason=RECOVERED_REASON)

class BulkWriter:
    """Adds finished records inside one `add_records` commit; keys are allocated in order."""

    def __init__(self, records: h5py.Group) -> None:
        self._records = records
        self._next_number = key_number(next_key(records))
        self.writers: dict[str, RecordWriter] = {}

    def new_record(self, meta: RecordMeta) -> RecordWriter:
        """A new record with its provenance written; write its steps, then `finish` it."""
        key = record_key(self._next_number)
        self._next_number += 1
        started_utc = utc_now()
        group = self._records.create_group(key, track_order=True)
        write_meta(group, key, meta, started_utc=started_utc)
        writer = RecordWriter(group, capture=RowCapture(key, meta, started_utc))
        self.writers[key] = writer
        return writer


def add_records(path: str | os.PathLike, write: Callable[[BulkWriter], None]) -> list[str]:
    """Add many finished records in one atomic commit; `write(bulk)` creates them with `bulk.new_record(meta)`.

    For bulk writers (CSV import): one copy of the file for all records, the file is
    created only if `write` succeeds, and an existing file is unchanged if it raises.
    Records left without `finish` are stored as `aborted`. Returns the new keys.
    """
    path = Path(path)
    if path.exists():
        open_bench_file(path).close()
    elif not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: the folder {path.parent} does not exist")
    with file_lock(path), atomic_update(path) as handle:
        bulk = BulkWriter(handle[RECORDS_GROUP])
        write(bulk)
        for writer in bulk.writers.values():
            if not writer.finished:
                writer.finish("aborted", reason="the record was closed without a final status")
        rows = {key: row for key, writer in bulk.writers.items() if writer.capture and (row := writer.capture.row())}
        update_summary(handle, list(bulk.writers), known_rows=rows)
    return list(bulk.writers)


def _is_lock_error(exc: OSError) -> bool:
    return exc.errno in (errno.EAGAIN, errno.EACCES) or "unable to lock file" in str(exc)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

