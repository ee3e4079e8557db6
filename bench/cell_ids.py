"""Cell IDs as scanned from a label: checked once, then only ever stored as text.

Why so strict about so little: the ID comes from a barcode scanner, a tray file or a
CSV someone else wrote. It ends up in HDF5 attributes, terminal tables and JSON. It is
never used as a file name or an HDF5 path by bench (records are keyed `r000001`, ...),
but the reports and JSON it writes go on to other systems (label printers, ERP imports,
file-per-cell exports) that may. So refused are what would break a table or a log line,
make two IDs look alike, or read as a path elsewhere: nothing at all, control and
invisible characters, unusual spaces, absurd lengths, path separators and `..`.
"""

from __future__ import annotations

import unicodedata

MAX_CELL_ID_CHARS = 128
PATH_LIKE = ("/", "\\", "..")
SHOWN_CHARS = 40


class CellIdError(ValueError):
    """A cell ID that cannot be stored; the message is one line with a safe rendering of it."""


def safe_repr(raw: str, limit: int = SHOWN_CHARS) -> str:
    """A printable, one-line, truncated rendering of untrusted text for error messages (ASCII escapes)."""
    text = ascii(raw)
    if len(text) <= limit + 2:
        return text
    return f"{text[:limit]}...' ({len(raw)} characters)"


def validate_cell_id(raw: str) -> str:
    """Return the ID without surrounding whitespace, or raise CellIdError saying what is wrong."""
    if not isinstance(raw, str):
        raise CellIdError(f"cell ID {raw!r} is not text")
    cell_id = raw.strip()
    if not cell_id:
        raise CellIdError(f"cell ID {safe_repr(raw)} is empty: scan or type the ID printed on the cell")
    if len(cell_id) > MAX_CELL_ID_CHARS:
        raise CellIdError(f"cell ID {safe_repr(cell_id)} is longer than {MAX_CELL_ID_CHARS} characters")
    for index, char in enumerate(cell_id):
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " "):
            raise CellIdError(
                f"cell ID {safe_repr(cell_id)} contains a control or invisible character "
                f"(U+{ord(char):04X} at position {index + 1}): re-scan the label"
            )
    for fragment in PATH_LIKE:
        if fragment in cell_id:
            raise CellIdError(
                f"cell ID {safe_repr(cell_id)} contains {fragment!r}, which other systems would read as a path: "
                "enter the ID without it"
            )
    return cell_id
