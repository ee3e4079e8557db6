"""`bench import`: bring measurements made elsewhere into a bench HDF5 file."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("import")
def import_group() -> None:
    """Import measurements made elsewhere into a bench HDF5 file.

    \b
    Examples:
      bench import csv spectra.csv -o imported.h5
      bench import csv spectra.csv -o imported.h5 --profile eis
    """


@import_group.command("csv")
@click.argument("csv_path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HDF5 file to create or add to.")
@click.option("--profile", "profile_name", default="quick-grade", show_default=True, metavar="NAME|PATH",
              help="Profile whose cell type and grading rules the imported records get.")
@click.option("--operator", default="", help="Who imported the data (stored with each record).")
def import_csv_command(csv_path: Path, out_path: Path, profile_name: str, operator: str) -> None:
    """Import impedance spectra from a CSV file, one row per frequency point (docs/import-csv.md).

    Required columns: cell_id, measurement_id, frequency_hz, z_real_ohm, z_imag_ohm
    (Im(Z) with its natural sign, negative where capacitive). Optional: temperature_c,
    soc (0..1), capacity_ah (a reference capacity), nominal_capacity_ah. Each
    (cell_id, measurement_id) becomes one record. On any error nothing is written.

    \b
    Examples:
      bench import csv spectra.csv -o imported.h5
      bench import csv lab-b.csv -o imported.h5 --profile eis --operator anna
      bench evaluate imported.h5
    """
    from bench.import_csv import import_csv

    result = import_csv(csv_path, out_path, profile_name=profile_name, operator=operator)
    click.echo(
        f"imported {result.measurements} measurement(s) of {result.cells} cell(s), {result.points} points, "
        f"from {csv_path} into {out_path} (records {result.first_key}..{result.last_key})"
    )
    if result.ignored_columns:
        click.echo(f"ignored columns: {', '.join(result.ignored_columns)}")
