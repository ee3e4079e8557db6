"""Property-based tests of the two parsers that read text from outside: SCPI replies and CSV imports.

The guarantee (docs/reliability.md): whatever text arrives, the parser either returns
values that round-trip exactly or raises the project's one-line error; never another
exception, never a silent NaN.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.import_csv import CsvImportError, read_measurements
from drivers.protocols import InstrumentError
from drivers.scpi import parse_number, parse_numbers

FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(FINITE, st.sampled_from(["{:+.6E}", "{:.9g}", "{!r}", "{:+.12E}", " {:.4E} "]))
def test_a_number_in_any_scpi_spelling_parses_back(value: float, spelling: str) -> None:
    reply = spelling.format(value)
    parsed = parse_number(reply, instrument="dut", command=":X?")
    assert math.isclose(parsed, float(reply), rel_tol=0, abs_tol=0)


@given(st.text(max_size=40))
def test_any_reply_is_a_finite_number_or_a_one_line_instrument_error(reply: str) -> None:
    try:
        value = parse_number(reply, instrument="dut", command=":X?")
    except InstrumentError as exc:
        message = str(exc)
        assert message.startswith("dut: ") and "\n" not in message.replace("\\n", "")
    else:
        assert math.isfinite(value)


@given(st.lists(FINITE, min_size=1, max_size=5), st.integers(min_value=1, max_value=6))
def test_a_reading_with_the_wrong_number_of_fields_is_refused(values: list[float], expected_count: int) -> None:
    reply = ",".join(f"{v:+.6E}" for v in values)
    try:
        parsed = parse_numbers(reply, expected_count, instrument="dut", command=":READ?")
    except InstrumentError:
        assert len(values) != expected_count
    else:
        assert len(values) == expected_count and len(parsed) == expected_count


CELL_IDS = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_ "),
                   min_size=1, max_size=20).map(str.strip).filter(bool)
POSITIVE = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    measurements=st.lists(
        st.tuples(CELL_IDS, st.lists(st.tuples(POSITIVE, FINITE, FINITE), min_size=1, max_size=8, unique_by=lambda p: p[0])),
        min_size=1, max_size=4, unique_by=lambda m: m[0],
    )
)
def test_csv_import_reads_back_every_value_exactly(tmp_path_factory, measurements) -> None:
    path = tmp_path_factory.mktemp("csv") / "m.csv"
    lines = ["cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm"]
    for cell_id, points in measurements:
        lines += [f"{cell_id},m-{cell_id},{f!r},{re!r},{im!r}" for f, re, im in points]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read, _columns = read_measurements(path)
    by_id = {m.cell_id: m for m in read}
    assert set(by_id) == {cell_id for cell_id, _ in measurements}
    for cell_id, points in measurements:
        got = by_id[cell_id]
        np.testing.assert_array_equal(got.frequency_hz, [p[0] for p in points])
        np.testing.assert_array_equal(got.z_real_ohm, [p[1] for p in points])
        np.testing.assert_array_equal(got.z_imag_ohm, [p[2] for p in points])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=200))
def test_any_csv_body_is_imported_or_refused_in_one_line(tmp_path_factory, body: str) -> None:
    path: Path = tmp_path_factory.mktemp("csv") / "m.csv"
    path.write_text("cell_id,measurement_id,frequency_hz,z_real_ohm,z_imag_ohm\n" + body, encoding="utf-8", errors="surrogatepass")
    try:
        read, _columns = read_measurements(path)
    except CsvImportError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        for measurement in read:
            assert np.all(np.isfinite(measurement.frequency_hz)) and np.all(measurement.frequency_hz > 0)
            assert np.all(np.isfinite(measurement.z_real_ohm)) and np.all(np.isfinite(measurement.z_imag_ohm))
