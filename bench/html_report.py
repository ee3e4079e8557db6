"""The HTML report: one self-contained page for many records, and a printable certificate per cell.

Why a separate module from `bench.report`: the terminal/JSON/CSV report works on plain
rows only, while this page also draws each record's measured data (spectra, fits,
Kramers-Kronig residuals, time series), so it needs the `RecordBatch` and the
estimator's fits. It still knows nothing of HDF5: the command hands it arrays.

The page works offline: every plot is inline SVG, there are no scripts, fonts or styles
from the network, and records are collapsed `<details>` elements so that a file of a
thousand records opens on its summary. The two summary figures are drawn once by
matplotlib (Agg backend, no window); each record's six panels are drawn by
`bench.svg_plots`, a few milliseconds and ~10 kB each, which is what keeps a page of a
thousand records quick to write and to open (see docs/report.md).
"""

from __future__ import annotations

import html
import io
import math
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from bench.records import RaggedSeries, RecordBatch
from bench.svg_plots import RecordPlotData, record_figure_svg

__all__ = [
    "RecordPlotData", "certificate_html", "plot_data_for", "record_figure_svg", "render_record_figures",
    "report_html", "spectrum_overlays", "summary_figure_svg",
]

PLOT_WIDTH_IN = 9.0
EXPANDED_UP_TO_RECORDS = 5  # a few records open at once; more start collapsed so the page opens on its summary
MIN_POINTS_TO_DRAW_FIT = 6  # as the estimator: fewer points are not fitted


def series_slice(series: RaggedSeries, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Record `index`'s rows of a ragged series: (time_s, voltage_v, current_a)."""
    start, stop = int(series.offsets[index]), int(series.offsets[index + 1])
    return series.time_s[start:stop], series.voltage_v[start:stop], series.current_a[start:stop]


def plot_data_for(batch: RecordBatch, index: int, z_fit: np.ndarray | None, kk_residual: np.ndarray | None) -> RecordPlotData:
    """Cut record `index` out of the batch, dropping the NaN padding of its spectrum."""
    valid = np.isfinite(batch.frequency_hz[index])
    z = batch.z_real_ohm[index][valid] + 1j * batch.z_imag_ohm[index][valid]
    fit = z_fit[index][valid] if z_fit is not None else np.zeros(0, complex)
    if fit.size and not np.all(np.isfinite(fit)):
        fit = np.zeros(0, complex)
    kk = kk_residual[index][valid] if kk_residual is not None else np.zeros(0, complex)
    if kk.size and not np.all(np.isfinite(kk)):
        kk = np.zeros(0, complex)
    d_t, d_v, _d_i = series_slice(batch.discharge, index)
    p_t, p_v, p_i = series_slice(batch.pulse, index)
    return RecordPlotData(
        frequency_hz=batch.frequency_hz[index][valid],
        z_measured=z,
        z_fit=fit,
        kk_residual_real=np.real(kk),
        kk_residual_imag=np.imag(kk),
        discharge_time_s=d_t,
        discharge_voltage_v=d_v,
        pulse_time_s=p_t,
        pulse_voltage_v=p_v,
        pulse_current_a=p_i,
    )


def spectrum_overlays(batch: RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """The fitted circuit's impedance and the Lin-KK residuals (real + 1j*imag) on each record's own frequencies.

    The estimator keeps only what grading needs (parameters, fit quality, verdicts); the
    page draws the curves too, so it asks the same public functions for them, in one
    batch, on the records that have a spectrum.
    """
    from bench.estimate import fit_ecm, lin_kk

    z = batch.z_real_ohm + 1j * batch.z_imag_ohm
    z_fit = np.full(z.shape, np.nan + 0j)
    kk_residual = np.full(z.shape, np.nan + 0j)
    rows = np.flatnonzero(np.isfinite(batch.frequency_hz).sum(axis=1) >= MIN_POINTS_TO_DRAW_FIT)
    if rows.size:
        fit = fit_ecm(batch.frequency_hz[rows], z[rows])
        z_fit[rows] = fit.z_fit
        kk = lin_kk(batch.frequency_hz[rows], z[rows])
        kk_residual[rows] = kk.residual_real + 1j * kk.residual_imag
    return z_fit, kk_residual


def _figure_svg(fig: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    # Text as text (a third smaller than glyph paths); a fixed salt and no date, so the same
    # record always gives the same page.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bench"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: the SVG sits inline in HTML


def summary_figure_svg(rows: Sequence[dict[str, Any]]) -> str:
    """Grade distribution and SoH histogram of all records."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PLOT_WIDTH_IN, 2.8))
    grade_axis, soh_axis = fig.subplots(1, 2)
    counts = Counter(str(row.get("grade", "")) for row in rows)
    names = sorted(counts)
    grade_axis.bar(names, [counts[name] for name in names], color="C2")
    grade_axis.set(title="Grades", ylabel="records")
    soh = [100 * row["soh"] for row in rows if isinstance(row.get("soh"), (int, float)) and math.isfinite(row["soh"])]
    if soh:
        soh_axis.hist(soh, bins=min(20, max(5, len(soh) // 5)), color="C0")
    soh_axis.set(title="State of health", xlabel="SoH / %", ylabel="records")
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.1, top=0.93, wspace=0.38, hspace=0.5)
    return _figure_svg(fig)


def _fmt_percent(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{100 * value:.1f} %"


def _fmt_number(value: Any, unit: str = "", digits: int = 2) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f} {unit}".rstrip()


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }
td.num { text-align: right; }
details { border: 1px solid #ddd; margin: 0.4em 0; padding: 0.3em 0.8em; }
summary { cursor: pointer; font-weight: 600; }
figure { margin: 0.5em 0; }
figure svg { max-width: 100%; height: auto; }
.grade-A { color: #1a7f37; } .grade-B { color: #2f9e44; } .grade-C { color: #b08800; }
.grade-D { color: #d9480f; } .grade-recycle { color: #c92a2a; } .grade-retest { color: #862e9c; }
.warn { color: #c92a2a; }
@media print { details { border: none; } .noprint { display: none; } }
"""


def _estimate_table(row: dict[str, Any]) -> str:
    warnings = "; ".join(row.get("warnings") or []) or "none"
    cells = [
        ("SoH", f"{_fmt_percent(row.get('soh'))} (90 % interval {_fmt_percent(row.get('soh_low'))} – {_fmt_percent(row.get('soh_high'))})"),
        ("method", row.get("method", "")),
        ("grade", row.get("grade", "")),
        ("residual value", f"{_fmt_number(row.get('residual_value'))} {row.get('currency', '')}"),
        ("R0", _fmt_number(_scaled(row.get("r0_ohm"), 1e3), "mΩ")),
        ("resistance growth", _fmt_number(row.get("resistance_growth"), "×")),
        ("measured capacity", _fmt_number(row.get("capacity_ah"), "Ah", 3)),
        ("temperature", _fmt_number(row.get("temperature_c"), "°C", 1)),
        ("fit rel. RMSE", _fmt_percent(row.get("fit_rel_rmse"))),
        ("Lin-KK max residual", _fmt_percent(row.get("kk_max_residual"))),
        ("warnings", warnings),
    ]
    return _key_value_table(cells)


def _scaled(value: Any, factor: float) -> Any:
    return value * factor if isinstance(value, (int, float)) else value


def _key_value_table(cells: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_esc(key)}</th><td>{_esc(value)}</td></tr>" for key, value in cells)
    return f"<table>{body}</table>"


def _provenance_table(provenance: dict[str, Any]) -> str:
    return _key_value_table((key, value) for key, value in provenance.items() if value not in (None, "", {}))


def summary_section(rows: Sequence[dict[str, Any]]) -> str:
    counts = Counter(str(row.get("grade", "")) for row in rows)
    currency = rows[0].get("currency", "") if rows else ""
    total_value = sum(row.get("residual_value") or 0.0 for row in rows)
    grade_list = ", ".join(f"{_esc(name)}: {n}" for name, n in sorted(counts.items()))
    table_rows = "".join(
        f"<tr><td><a href='#rec-{i}'>{_esc(row.get('cell_id'))}</a></td><td>{_esc(row.get('measurement_id'))}</td>"
        f"<td class='num'>{_fmt_percent(row.get('soh'))}</td>"
        f"<td class='grade-{_esc(row.get('grade'))}'>{_esc(row.get('grade'))}</td>"
        f"<td class='num'>{_fmt_number(row.get('residual_value'))}</td><td>{_esc(row.get('method'))}</td></tr>"
        for i, row in enumerate(rows)
    )
    return (
        "<section id='summary'><h2>Summary</h2>"
        f"<p>{len(rows)} record(s); grades {grade_list}; total residual value "
        f"<strong>{total_value:,.2f} {_esc(currency)}</strong>.</p>"
        f"<figure>{summary_figure_svg(rows) if rows else ''}</figure>"
        "<table><tr><th>cell ID</th><th>measurement</th><th>SoH</th><th>grade</th>"
        f"<th>value {_esc(currency)}</th><th>method</th></tr>{table_rows}</table></section>"
    )


def record_section(index: int, row: dict[str, Any], figure_svg: str, provenance: dict[str, Any], *, expanded: bool = False) -> str:
    title = (
        f"{_esc(row.get('cell_id'))} · {_esc(row.get('measurement_id'))} · grade "
        f"<span class='grade-{_esc(row.get('grade'))}'>{_esc(row.get('grade'))}</span> · SoH {_fmt_percent(row.get('soh'))}"
    )
    return (
        f"<details id='rec-{index}' class='record'{' open' if expanded else ''}><summary>{title}</summary>"
        f"<figure class='record-plots'>{figure_svg}</figure>"
        f"<h4>Estimate</h4>{_estimate_table(row)}<h4>Provenance</h4>{_provenance_table(provenance)}</details>"
    )


def render_record_figures(plot_data: Sequence[RecordPlotData]) -> list[str]:
    """One SVG per record, in order. A few milliseconds each, so one core draws a thousand records in seconds."""
    return [record_figure_svg(data) for data in plot_data]


def page_html(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{body}</body></html>\n"
    )


def report_html(
    title: str,
    rows: Sequence[dict[str, Any]],
    figures_svg: Sequence[str],
    provenance: Sequence[dict[str, Any]],
) -> str:
    """The whole page: summary first, then one collapsed section per record in the rows' order."""
    sections = [summary_section(rows), "<section id='records'><h2>Records</h2>"]
    expanded = len(rows) <= EXPANDED_UP_TO_RECORDS
    sections += [
        record_section(i, row, figure, prov, expanded=expanded)
        for i, (row, figure, prov) in enumerate(zip(rows, figures_svg, provenance))
    ]
    sections.append("</section>")
    return page_html(title, "".join(sections))


def certificate_html(row: dict[str, Any], provenance: dict[str, Any], figure_svg: str) -> str:
    """One printable page for one cell: what a buyer of the cell wants to see."""
    body = (
        f"<p style='font-size:1.6em'>Cell <strong>{_esc(row.get('cell_id'))}</strong> · grade "
        f"<strong class='grade-{_esc(row.get('grade'))}'>{_esc(row.get('grade'))}</strong></p>"
        f"{_estimate_table(row)}<figure>{figure_svg}</figure>"
        f"<h3>Provenance</h3>{_provenance_table(provenance)}"
    )
    return page_html(f"Cell certificate {row.get('cell_id', '')}", body)
