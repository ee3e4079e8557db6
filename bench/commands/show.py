"""`bench show`: what is in one or more bench HDF5 files, one line per record."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

STATUS_STYLES = {"complete": "green", "failed": "red", "aborted": "yellow", "incomplete": "magenta"}


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
        table = Table(title=f"{path} ({len(records)} record{'s' if len(records) != 1 else ''})", title_justify="left")
        for column in ("record", "cell ID", "measurement", "profile", "started (UTC)", "status"):
            table.add_column(column, overflow="fold", no_wrap=column in ("record", "started (UTC)", "status"))
        table.add_column("reason", overflow="fold", ratio=1)
        for record in records:
            table.add_row(
                record.key,
                record.cell_id,
                record.measurement_id if record.measurement_id != record.key else "",
                record.profile_name,
                record.started_utc.replace("T", " ")[:19],
                f"[{STATUS_STYLES.get(record.status, '')}]{record.status}[/]",
                record.reason,
            )
        console.print(table)
