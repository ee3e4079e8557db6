"""`bench show`: what is in one or more bench HDF5 files, one line per record."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

STATUS_STYLES = {"complete": "green", "failed": "red", "aborted": "yellow", "incomplete": "magenta"}
COLUMNS = ("record", "cell ID", "measurement", "profile", "started (UTC)", "status", "reason")
RICH_TABLE_MAX_ROWS = 500  # beyond this a rich table takes seconds to lay out; plain columns take milliseconds


def _rows(records) -> list[tuple[str, ...]]:
    return [
        (
            record.key,
            record.cell_id,
            record.measurement_id if record.measurement_id != record.key else "",
            record.profile_name,
            record.started_utc.replace("T", " ")[:19],
            record.status,
            record.reason,
        )
        for record in records
    ]


def _print_rich(console: Console, title: str, rows: list[tuple[str, ...]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in COLUMNS[:-1]:
        table.add_column(column, overflow="fold", no_wrap=column in ("record", "started (UTC)", "status"))
    table.add_column(COLUMNS[-1], overflow="fold", ratio=1)
    for row in rows:
        status = row[5]
        table.add_row(*row[:5], f"[{STATUS_STYLES.get(status, '')}]{status}[/]", row[6])
    console.print(table)


def _print_plain(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS) - 1)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)) + "  " + COLUMNS[-1]]
    lines.extend("  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[-1] for row in rows)
    click.echo("\n".join(lines))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def show(files: tuple[Path, ...]) -> None:
    """List the records in FILES: key, cell ID, profile, start time (UTC), status and reason.

    A record whose measuring process was killed shows as `incomplete`; the next
    `bench measure` into the same file recovers what it had captured.

    \b
    Examples:
      bench show run.h5
      bench show day1.h5 day2.h5
    """
    from bench.store import list_records

    listings = [(path, list_records(path)) for path in files]  # read everything first: errors before output
    console = Console(highlight=False)
    for path, records in listings:
        title = f"{path} ({len(records)} record{'s' if len(records) != 1 else ''})"
        rows = _rows(records)
        if len(rows) > RICH_TABLE_MAX_ROWS:
            _print_plain(title, rows)
        else:
            _print_rich(console, title, rows)
