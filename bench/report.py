"""The grade report: a rich table for the station, JSON and CSV for other systems.

Works on the plain rows of `Estimates.to_rows()` (one dict per record), so that what
is printed, what is written as JSON and what is written as CSV are the same numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

REPORT_COLUMNS = (
    "cell_id",
    "measurement_id",
    "soh",
    "soh_low",
    "soh_high",
    "grade",
    "residual_value",
    "method",
    "warnings",
)
GRADE_STYLE = {"A": "bold green", "B": "green", "C": "yellow", "D": "dark_orange", "recycle": "red", "retest": "magenta"}


def _percent(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def warning_notes(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Number each distinct warning once (in order of first appearance), for footnotes under the table."""
    notes: dict[str, int] = {}
    for row in rows:
        for warning in row.get("warnings") or []:
            notes.setdefault(warning, len(notes) + 1)
    return notes


def _interval(row: dict[str, Any]) -> str:
    low, high = row.get("soh_low"), row.get("soh_high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or math.isnan(low) or math.isnan(high):
        return "-"
    return f"{100 * low:.0f}–{100 * high:.0f}"


def grade_table(
    rows: list[dict[str, Any]], *, title: str = "Grade report", percent_columns: tuple[tuple[str, str], ...] = ()
) -> Table:
    """One row per record; `percent_columns` adds (header, row key) columns shown as percentages.

    Warnings are footnote numbers here (see `warning_notes`), so that the table stays one
    line per record on an 80-column station terminal.
    """
    currency = rows[0].get("currency", "") if rows else ""
    notes = warning_notes(rows)
    table = Table(title=title, title_justify="left")
    table.add_column("cell ID", no_wrap=True)
    table.add_column("SoH %", justify="right", no_wrap=True)
    table.add_column("90 % int.", justify="right", no_wrap=True)
    table.add_column("grade", no_wrap=True)
    table.add_column(f"value {currency}".strip(), justify="right", no_wrap=True)
    table.add_column("method", no_wrap=True)
    for header, _key in percent_columns:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("notes", no_wrap=True)
    for row in rows:
        grade = str(row.get("grade", ""))
        table.add_row(
            str(row.get("cell_id", "")),
            _percent(row.get("soh")),
            _interval(row),
            f"[{GRADE_STYLE.get(grade, 'white')}]{grade}[/]",
            _money(row.get("residual_value")),
            str(row.get("method", "")),
            *(_percent(row.get(key)) for _header, key in percent_columns),
            ",".join(str(notes[w]) for w in row.get("warnings") or []),
        )
    return table


def summary_line(rows: list[dict[str, Any]]) -> str:
    counts = Counter(str(row.get("grade", "")) for row in rows)
    total_value = sum(row.get("residual_value") or 0.0 for row in rows)
    currency = rows[0].get("currency", "") if rows else ""
    grades = ", ".join(f"{grade}: {n}" for grade, n in sorted(counts.items()))
    return f"{len(rows)} record(s) ({grades}); total residual value {total_value:,.2f} {currency}".rstrip()


def print_report(
    rows: list[dict[str, Any]],
    console: Console | None = None,
    *,
    title: str = "Grade report",
    percent_columns: tuple[tuple[str, str], ...] = (),
) -> None:
    console = console or Console()
    console.print(grade_table(rows, title=title, percent_columns=percent_columns))
    for warning, number in warning_notes(rows).items():
        console.print(f"  {number}: {warning}", highlight=False, markup=False)
    console.print(summary_line(rows), highlight=False)


def rows_to_json(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, allow_nan=False) + "\n"


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with the report columns first, then every other key; warnings joined with '; '."""
    extra = sorted({key for row in rows for key in row} - set(REPORT_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*REPORT_COLUMNS, *extra], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        flat["warnings"] = "; ".join(row.get("warnings") or [])
        writer.writerow({key: ("" if value is None else value) for key, value in flat.items()})
    return buffer.getvalue()


def write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
