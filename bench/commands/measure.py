"""`bench measure`: the technician's command. Runs a profile on one or more cells into an HDF5 file."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from bench.commands.sim import check_ambient_range, check_soc_range
from bench.measure import CellAssignment, MeasureError, MeasureResult

SIM_SPEED_DEFAULT = 200.0


def read_tray_file(path: Path) -> list[CellAssignment]:
    """A tray file is CSV with a header `slot,cell_id`: which scanned cell sits in which slot."""
    from bench.cell_ids import validate_cell_id

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"slot", "cell_id"} <= set(reader.fieldnames):
            raise MeasureError(f"{path}: a tray file needs the header 'slot,cell_id' (got {reader.fieldnames})")
        cells = []
        for line_number, row in enumerate(reader, start=2):
            try:
                slot = int(row["slot"])
            except (TypeError, ValueError):
                raise MeasureError(f"{path}, line {line_number}: slot {row['slot']!r} is not a whole number") from None
            if slot < 1:
                raise MeasureError(f"{path}, line {line_number}: slot {slot} must be 1 or more")
            cells.append(CellAssignment(slot, validate_cell_id(row["cell_id"] or "")))
    if not cells:
        raise MeasureError(f"{path}: the tray file lists no cells")
    slots = [c.slot for c in cells]
    if len(set(slots)) != len(slots):
        raise MeasureError(f"{path}: a slot is listed twice; each slot holds one cell")
    return cells


def cells_from_options(cell_ids: tuple[str, ...], tray: Path | None) -> list[CellAssignment]:
    from bench.cell_ids import validate_cell_id

    if bool(cell_ids) == bool(tray):
        raise click.UsageError("give the cells either with --cell ID (repeatable) or with --tray FILE")
    if tray is not None:
        return read_tray_file(tray)
    ids = [validate_cell_id(cell_id) for cell_id in cell_ids]
    if len(set(ids)) != len(ids):
        raise MeasureError("the same cell ID is given twice; each --cell is one physical cell in the next slot")
    return [CellAssignment(slot, cell_id) for slot, cell_id in enumerate(ids, start=1)]


def make_progress(quiet: bool, jsonl: bool):
    from bench.progress import JsonLinesProgress, QuietProgress, RichProgress

    if jsonl:
        return JsonLinesProgress()
    return QuietProgress() if quiet else RichProgress()


def run_measurement(station_path: Path, profile, cells: list[CellAssignment], out: Path, *, operator: str, progress) -> MeasureResult:
    """Open the station from its file and measure; the one path both `measure` and `demo` take.

    When the run already stopped on an instrument failure, a failure to make the bench
    safe afterwards (the same instrument is gone) is a warning after the root cause, not
    an error that hides it.
    """
    import logging

    from bench.interrupts import StopRequest
    from bench.measure import measure_cells
    from bench.station import load_station, open_station
    from drivers.protocols import InstrumentError

    config = load_station(station_path)
    result: MeasureResult | None = None
    station = None
    with StopRequest() as stop:
        try:
            with open_station(config) as station:
                result = measure_cells(station, profile, cells, out, operator=operator, progress=progress, stop=stop)
        except InstrumentError as exc:
            if result is None or not result.stopped_by:
                raise
            logging.getLogger(__name__).warning("%s", exc)
    result.outputs_confirmed_off = all(
        getattr(instrument, "output_off_confirmed", True) for instrument in getattr(station, "instruments", {}).values()
    )
    return result


def report_stop(result: MeasureResult) -> None:
    """One line on stderr when the run did not get through all its cells, whatever the progress mode."""
    if not result.stopped_by:
        return
    kept = sum(1 for cell in result.cells if cell.status != "aborted")
    where = f"{kept} finished record(s) and the aborted one are kept in {result.out_path}"
    outputs = "outputs are off" if result.outputs_confirmed_off else "OUTPUTS NOT CONFIRMED OFF: check the instruments"
    if result.stopped_by in ("SIGINT", "SIGTERM"):
        click.echo(f"stopped by {result.stopped_by}: {outputs}; {where}", err=True)
    else:
        click.echo(f"error: {result.stopped_by}; the run stopped, {outputs}; {where}", err=True)


def exit_code_for(result: MeasureResult) -> int:
    from bench.cli import EXIT_CELLS_FAILED, EXIT_INSTRUMENT

    if result.stopped_by in ("SIGINT", "SIGTERM"):
        return {"SIGINT": 130, "SIGTERM": 143}[result.stopped_by]
    if result.stopped_by:
        return EXIT_INSTRUMENT
    return 0 if result.all_complete else EXIT_CELLS_FAILED


@click.command()
@click.option("--station", "station_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station file (TOML): instruments, resources, roles.")
@click.option("--sim", is_flag=True, help="Use the built-in simulated station instead of a station file.")
@click.option("--cell", "cell_ids", multiple=True, metavar="ID", help="Scanned cell ID; repeat for slots 1, 2, ...")
@click.option("--tray", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with header 'slot,cell_id' instead of --cell.")
@click.option("--profile", "profile_name", required=True, metavar="NAME|PATH", help="Built-in profile name or a TOML file.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HDF5 file to create or append to.")
@click.option("--operator", default="", help="Who ran the test (stored with each record).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--jsonl", is_flag=True, help="Progress as JSON lines on stdout, for automation.")
@click.option("--speed", type=click.FloatRange(min=1e-3), default=SIM_SPEED_DEFAULT, show_default=True,
              help="With --sim: simulated clock speed.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --sim: which simulated tray.")
@click.option("--ambient-c", "ambient_c_range", callback=check_ambient_range, metavar="LO:HI",
              help="With --sim: spread the cells' temperature over LO..HI C (as `bench sim serve`).")
@click.option("--soc", "soc_range", callback=check_soc_range, metavar="LO:HI",
              help="With --sim: spread the cells' state of charge over LO..HI (0..1).")
def measure(station_path, sim, cell_ids, tray, profile_name, out, operator, quiet, jsonl, speed, seed,
            ambient_c_range, soc_range):
    """Run a test profile on one or more cells and store everything measured in an HDF5 file.

    \b
    Examples:
      bench measure --station station.toml --cell C001 --cell C002 --profile quick-grade --out run.h5
      bench measure --sim --cell C001 --profile capacity --out cap.h5 --operator anna
      bench measure --station station.toml --tray tray.csv --profile quick-grade --out run.h5 --jsonl
      bench measure --sim --cell C1 --cell C2 --profile quick-grade --ambient-c -10:45 --out cold.h5
    """
    from bench.profiles import load_profile
    from bench.sim_session import simulated_station_file

    if bool(station_path) == bool(sim):
        raise click.UsageError("give either --station FILE or --sim")
    if station_path and (ambient_c_range or soc_range):
        raise click.UsageError("--ambient-c and --soc set up simulated cells: use them with --sim")
    profile = load_profile(profile_name)
    cells = cells_from_options(cell_ids, tray)
    progress = make_progress(quiet, jsonl)
    if sim:
        n_slots = max(cell.slot for cell in cells)
        with simulated_station_file(cells=n_slots, seed=seed, chemistry=profile.cell_type.chemistry, speed=speed,
                                    ambient_c_range=ambient_c_range, soc_range=soc_range) as path:
            result = run_measurement(path, profile, cells, out, operator=operator, progress=progress)
    else:
        result = run_measurement(station_path, profile, cells, out, operator=operator, progress=progress)
    if not (jsonl or quiet):
        click.echo(f"wrote {out}")
    report_stop(result)
    sys.exit(exit_code_for(result))
