"""`bench report`: the HTML report of one or many files, and printable certificates per cell."""

from __future__ import annotations

import re
from pathlib import Path

import click

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))


def safe_file_stem(cell_id: str, index: int) -> str:
    """A file name for a cell's certificate that a hostile cell ID cannot steer: index plus a sanitised ID."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", cell_id).strip("._")[:60] or "cell"
    return f"{index + 1:04d}-{cleaned}"


@click.command()
@FILES
@click.option("--html", "html_out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the self-contained HTML page.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Calibration model from `bench calibrate`.")
@click.option("--certificates", "certificates_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write one printable HTML certificate per record into this folder.")
@click.option("--title", default="Grade report", show_default=True, help="Page title.")
def report(files, html_out, model_path, certificates_dir, title):
    """Write an offline HTML report: summary, then per record its spectra with fits, Lin-KK residuals, curves, estimate and provenance.

    Needs matplotlib (`pip install 'bench[report]'`).

    \b
    Examples:
      bench report run.h5 --html run.html
      bench report day1.h5 day2.h5 --model model.json --html week.html --certificates certs/
    """
    from bench.commands.evaluate import load_estimates
    from bench.html_report import certificate_html, plot_data_for, render_record_figures, report_html, spectrum_overlays
    from bench.report import write_text
    from bench.store import record_provenance

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.UsageError("bench report needs matplotlib: pip install 'bench[report]'") from None
    batch, _estimates, rows = load_estimates(list(files), model_path)
    z_fit, kk_residual = spectrum_overlays(batch)
    plot_data = [plot_data_for(batch, i, z_fit, kk_residual) for i in range(batch.n_records)]
    provenance = record_provenance(batch)
    figures = render_record_figures(plot_data)
    write_text(html_out, report_html(title, rows, figures, provenance))
    click.echo(f"wrote {html_out} ({len(rows)} record(s))")
    if certificates_dir is not None:
        certificates_dir.mkdir(parents=True, exist_ok=True)
        for i, (row, figure, prov) in enumerate(zip(rows, figures, provenance)):
            write_text(certificates_dir / f"{safe_file_stem(str(row.get('cell_id', '')), i)}.html", certificate_html(row, prov, figure))
        click.echo(f"wrote {len(rows)} certificate(s) to {certificates_dir}")
