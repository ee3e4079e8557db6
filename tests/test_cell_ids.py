"""Cell IDs from scanners and files: kept as text, hostile input refused with a safe one-line message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.cell_ids import MAX_CELL_ID_CHARS, CellIdError, validate_cell_id


@pytest.mark.parametrize("raw", ["C001", "  A-1\t", "Zelle Ä-7", "1;DROP TABLE", "LG.M50.0007"])
def test_printable_ids_are_kept_verbatim_after_stripping(raw: str) -> None:
    assert validate_cell_id(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["", "   ", "A\nB", "A\x00B", "A\x1b[31mB", "A\u200bB", "A\u2028B", "x" * (MAX_CELL_ID_CHARS + 1),
                                 "x" * 5000, "../../etc/passwd", "/records/r000001", "A\\B", "A..B"])
def test_hostile_ids_are_refused_in_one_line(raw: str) -> None:
    with pytest.raises(CellIdError) as info:
        validate_cell_id(raw)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message and "\x00" not in message
    assert len(message) < 200


@given(st.text(max_size=300))
def test_any_text_is_either_a_clean_id_or_a_one_line_error(raw: str) -> None:
    try:
        cell_id = validate_cell_id(raw)
    except CellIdError as exc:
        assert str(exc).isprintable() and len(str(exc)) < 250
    else:
        assert cell_id == raw.strip() and 0 < len(cell_id) <= MAX_CELL_ID_CHARS
        assert cell_id.isprintable()
        assert "/" not in cell_id and "\\" not in cell_id and ".." not in cell_id
        cell_id.encode("utf-8")  # storable as an HDF5 UTF-8 attribute
