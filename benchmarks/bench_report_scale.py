"""How long `bench report` takes for many records, and how big the page gets.

There is no peer tool that writes this page, so this prints absolute numbers per stage
(estimate, fits for the overlays, figures, page) for each size, and the figures' rate
on one core and on every core, measured in the same run.

    .venv/bin/python benchmarks/bench_report_scale.py [--sizes 100 1000]
"""

from __future__ import annotations

import argparse
import time


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
    t3 = time.perf_counter()
    figures = render_record_figures(plot_data)
    t4 = time.perf_counter()
    page = report_html("scale", rows, figures, [{"record": str(k)} for k in batch.record_key])
    t5 = time.perf_counter()
    print(f"{n_records:>7} records: estimate {t1 - t0:6.1f} s, overlays {t2 - t1:6.1f} s, "
          f"figures {t4 - t3:7.2f} s ({(t4 - t3) / n_records * 1000:.1f} ms/record), "
          f"page {t5 - t4:5.1f} s, {len(page.encode()) / 1e6:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    for n in parser.parse_args().sizes:
        run(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
