"""`bench demo`: the main job, end to end, on the built-in simulated station with no configuration."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from bench.commands.measure import SIM_SPEED_DEFAULT, exit_code_for, report_stop, run_measurement
from bench.measure import CellAssignment

DEMO_PROFILE = "quick-grade"
DEMO_CHEMISTRY = "nmc"


def default_demo_path() -> Path:
    return Path.cwd() / time.strftime("bench-demo-%Y%m%d-%H%M%S.h5")


@click.command()
@click.option("--cells", type=click.IntRange(1, 64), default=8, show_default=True, help="Cells on the simulated tray.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="HDF5 file to write [default: ./bench-demo-<time>.h5].")
@click.option("--seed", type=int, default=0, show_default=True, help="Which simulated tray (cells and their ageing).")
@click.option("--speed", type=click.FloatRange(min=1.0), default=SIM_SPEED_DEFAULT, show_default=True,
              help="Simulated clock speed.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Calibration model for the SoH estimate.")
def demo(cells, out, seed, speed, model_path):
    """Measure a tray of simulated cells with the quick-grade profile, store them, evaluate and print the grades.

    Starts a simulated Hioki BT4560, Keithley 2400 and tray switch as real servers on
    this machine, then runs exactly what `bench measure` and `bench evaluate` run.

    \b
    Examples:
      bench demo
      bench demo --cells 16 --seed 3 --out tray3.h5
    """
    from bench.commands.evaluate import evaluate_files
    from bench.profiles import load_profile
    from bench.progress import RichProgress
    from bench.report import print_report
    from bench.sim_session import simulated_station_file
    from drivers.sim.tray import make_tray

    out = out or default_demo_path()
    profile = load_profile(DEMO_PROFILE)
    assignments = [CellAssignment(slot, f"DEMO-{seed:02d}-{slot:03d}") for slot in range(1, cells + 1)]
    with simulated_station_file(cells=cells, seed=seed, chemistry=DEMO_CHEMISTRY, speed=speed) as station_path:
        result = run_measurement(station_path, profile, assignments, out, operator="demo", progress=RichProgress())
    console = Console()
    console.print(f"measurements written to [bold]{out}[/]")
    report_stop(result)
    rows = evaluate_files([out], model_path)
    # The simulator knows each cell's true SoH: show it beside the estimate, so the demo shows its own error.
    truth = {f"DEMO-{seed:02d}-{cell.slot:03d}": cell.true_soh for cell in make_tray(cells, seed, DEMO_CHEMISTRY).cells}
    for row in rows:
        true_soh = truth.get(row["cell_id"])
        if true_soh is not None:
            row["true_soh_sim"] = round(true_soh, 4)
    print_report(rows, console, title=f"Grade report: {out.name}", percent_columns=(("true %", "true_soh_sim"),))
    errors = [abs(r["soh"] - r["true_soh_sim"]) for r in rows if r.get("soh") is not None and "true_soh_sim" in r]
    if errors:
        console.print(
            f"simulated truth: mean |SoH error| {100 * sum(errors) / len(errors):.1f} points over {len(errors)} cell(s)",
            highlight=False,
        )
    sys.exit(exit_code_for(result))
