"""The HDF5 store: crash-safe writing of records, listing them, loading them as arrays.

Layout: docs/hdf5-format.md. Crash safety: `bench.store.runstore`.
"""

from bench.store.format import FORMAT, FORMAT_VERSION, RecordMeta, StoreError, units_for
from bench.store.reader import RecordSummary, list_records, load_batch, record_provenance
from bench.store.runstore import BulkWriter, RunStore, add_records
from bench.store.writer import RecordWriter, SeriesWriter

__all__ = [
    "FORMAT", "FORMAT_VERSION", "RecordMeta", "RecordSummary", "RecordWriter", "RunStore", "SeriesWriter",
    "StoreError", "BulkWriter", "add_records", "list_records", "load_batch", "record_provenance", "units_for",
]
