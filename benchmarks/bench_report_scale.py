"""How long `bench report` takes for many records, and how big the page gets.

No peer tool writes this page, so the reference is the record figure as matplotlib drew
it before `bench.svg_plots` (the same six panels, inline SVG), measured in the same run
on a sample of the same records: time and size per record figure, and the ratios. Then,
for each size, absolute numbers per stage (estimate, fits for the overlays, record
figures, page) and the page's size.

    .venv/bin/python benchmarks/bench_report_scale.py [--sizes 100 1000] [--reference-sample 20]
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Sequence

import numpy as np


def matplotlib_record_figure(data) -> str:
    """The reference: one record's six panels drawn by matplotlib as SVG, as the report did before."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 5.2))
    (nyquist, magnitude, phase), (kk_axis, discharge_axis, pulse_axis) = fig.subplots(2, 3)
    f, z = data.frequency_hz, data.z_measured
    if z.size:
        nyquist.plot(z.real * 1e3, -z.imag * 1e3, "o", ms=3, label="measured")
        magnitude.loglog(f, np.abs(z) * 1e3, "o", ms=3)
        phase.semilogx(f, np.degrees(np.angle(z)), "o", ms=3)
    if data.z_fit.size:
        nyquist.plot(data.z_fit.real * 1e3, -data.z_fit.imag * 1e3, "-", lw=1.2, label="fitted circuit")
        magnitude.loglog(f, np.abs(data.z_fit) * 1e3, "-", lw=1.2)
        phase.semilogx(f, np.degrees(np.angle(data.z_fit)), "-", lw=1.2)
    nyquist.set(title="Nyquist", xlabel="Re Z / mΩ", ylabel="−Im Z / mΩ")
    nyquist.set_aspect("equal", adjustable="datalim")
    nyquist.legend(fontsize=7)
    magnitude.set(title="Bode |Z|", xlabel="f / Hz", ylabel="|Z| / mΩ")
    phase.set(title="Bode phase", xlabel="f / Hz", ylabel="phase / °")
    if data.kk_residual_real.size:
        kk_axis.semilogx(f, data.kk_residual_real * 100, "o-", ms=2, lw=0.8, label="real")
        kk_axis.semilogx(f, data.kk_residual_imag * 100, "s-", ms=2, lw=0.8, label="imag")
        kk_axis.axhline(0, color="grey", lw=0.5)
        kk_axis.legend(fontsize=7)
    kk_axis.set(title="Lin-KK residuals", xlabel="f / Hz", ylabel="residual / %")
    discharge_axis.plot(data.discharge_time_s / 3600, data.discharge_voltage_v, "-", lw=1.2)
    discharge_axis.set(title="CC discharge", xlabel="t / h", ylabel="V / V")
    pulse_axis.plot(data.pulse_time_s, data.pulse_voltage_v, "-", lw=1.2, color="C0")
    current_axis = pulse_axis.twinx()
    current_axis.plot(data.pulse_time_s, data.pulse_current_a, "-", lw=0.8, color="C3")
    current_axis.set_ylabel("I / A", color="C3")
    pulse_axis.set(title="DC pulse", xlabel="t / s", ylabel="V / V")
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.1, top=0.93, wspace=0.38, hspace=0.5)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bench"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def per_record(render, plot_data: Sequence) -> tuple[float, float]:
    """Seconds and bytes per record figure over `plot_data`."""
    t0 = time.perf_counter()
    figures = [render(data) for data in plot_data]
    seconds = time.perf_counter() - t0
    return seconds / len(plot_data), sum(len(svg.encode()) for svg in figures) / len(plot_data)


def reference(sample: int) -> None:
    from bench.estimate.synthetic import synthetic_batch
    from bench.html_report import plot_data_for, spectrum_overlays
    from bench.svg_plots import record_figure_svg

    batch, _truth = synthetic_batch(sample, seed=1, with_discharge=True)
    z_fit, kk = spectrum_overlays(batch)
    plot_data = [plot_data_for(batch, i, z_fit, kk) for i in range(sample)]
    matplotlib_record_figure(plot_data[0])  # imports and font cache outside the timing
    mpl_s, mpl_bytes = per_record(matplotlib_record_figure, plot_data)
    svg_s, svg_bytes = per_record(record_figure_svg, plot_data)
    print(f"record figure, {sample} records, one core:")
    print(f"  matplotlib      : {mpl_s * 1000:7.1f} ms/record, {mpl_bytes / 1000:6.1f} kB/record")
    print(f"  bench.svg_plots : {svg_s * 1000:7.1f} ms/record, {svg_bytes / 1000:6.1f} kB/record")
    print(f"  ratio           : x{mpl_s / svg_s:.0f} faster, x{mpl_bytes / svg_bytes:.1f} smaller")


def run(n_records: int) -> None:
    from bench.estimate import evaluate
    from bench.estimate.synthetic import synthetic_batch
    from bench.html_report import plot_data_for, render_record_figures, report_html, spectrum_overlays

    batch, _truth = synthetic_batch(n_records, seed=1, with_discharge=True)
    t0 = time.perf_counter()
    rows = evaluate(batch).to_rows()
    t1 = time.perf_counter()
    z_fit, kk = spectrum_overlays(batch)
    plot_data = [plot_data_for(batch, i, z_fit, kk) for i in range(n_records)]
    t2 = time.perf_counter()
    figures = render_record_figures(plot_data)
    t3 = time.perf_counter()
    page = report_html("scale", rows, figures, [{"record": str(k)} for k in batch.record_key])
    t4 = time.perf_counter()
    print(f"{n_records:>7} records: estimate {t1 - t0:5.1f} s, overlays {t2 - t1:5.1f} s, "
          f"figures {t3 - t2:6.2f} s ({(t3 - t2) / n_records * 1000:.1f} ms/record), "
          f"page {t4 - t3:5.1f} s, total {t4 - t0:5.1f} s, {len(page.encode()) / 1e6:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--reference-sample", type=int, default=20,
                        help="records drawn by both renderers for the comparison (0 to skip)")
    args = parser.parse_args()
    if args.reference_sample > 0:
        reference(args.reference_sample)
    for n in args.sizes:
        run(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
