"""`bench evaluate` and `bench calibrate`: the engineer's commands over one or many HDF5 files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))


def load_estimates(files: list[Path], model_path: Path | None):
    """Store -> estimator: the batch, the estimator's arrays and the plain rows; shared by `evaluate`, `demo`, `report`."""
    from bench.estimate import evaluate as estimate_records
    from bench.estimate import load_model
    from bench.store import load_batch

    model = load_model(model_path) if model_path else None
    batch = load_batch(files)
    estimates = estimate_records(batch, model)
    return batch, estimates, estimates.to_rows()


def evaluate_files(files: list[Path], model_path: Path | None) -> list[dict]:
    """Store -> estimator -> plain rows."""
    return load_estimates(files, model_path)[2]


@click.command()
@FILES
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Calibration model from `bench calibrate`.")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the results as JSON ('-' for stdout).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as CSV.")
@click.option("--quiet", is_flag=True, help="Do not print the grade report.")
def evaluate(files, model_path, json_out, csv_out, quiet):
    """Estimate SoH, uncertainty, grade and residual value for every record in FILES.

    \b
    Examples:
      bench evaluate run.h5
      bench evaluate day1.h5 day2.h5 --model model.json --json grades.json --csv grades.csv
      bench evaluate run.h5 --json - --quiet | jq '.[].grade'
    """
    from bench.report import print_report, rows_to_csv, rows_to_json, write_text

    rows = evaluate_files(list(files), model_path)
    if not quiet:
        # With JSON on stdout the table goes to stderr, so pipes get clean JSON.
        print_report(rows, Console(stderr=json_out == "-"))
    if json_out == "-":
        sys.stdout.write(rows_to_json(rows))
    elif json_out:
        write_text(Path(json_out), rows_to_json(rows))
    if csv_out:
        write_text(csv_out, rows_to_csv(rows))


@click.command()
@FILES
@click.option("-o", "--out", "model_out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the model (JSON).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="Cross-validation folds (grouped by cell).")
@click.option("--seed", type=int, default=0, show_default=True)
def calibrate(files, model_out, folds, seed):
    """Fit the quick-test SoH model on records that carry a reference capacity.

    Prints the cross-validated error and interval coverage (folds grouped by cell ID).

    \b
    Examples:
      bench calibrate reference.h5 -o model.json
      bench import csv lab.csv -o lab.h5 && bench calibrate lab.h5 -o model.json --folds 10
    """
    from bench.estimate import calibrate as fit_model
    from bench.store import load_batch

    batch = load_batch(list(files))
    model, report = fit_model(batch, n_folds=folds, seed=seed)
    model.save(model_out)
    click.echo(report.summary())
    click.echo(f"wrote {model_out}")
