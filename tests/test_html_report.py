"""The HTML report: every record and every plot present, offline, safe against hostile cell IDs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the HTML report needs the optional matplotlib extra")

from bench.html_report import RecordPlotData, certificate_html, record_figure_svg, render_record_figures, report_html  # noqa: E402
from bench.commands.report import safe_file_stem  # noqa: E402


def _plot_data(with_discharge: bool) -> RecordPlotData:
    frequency_hz = np.logspace(3, -1, 21)
    z = 0.03 + 0.01 / (1 + 1j * frequency_hz / 10) + 0.002 * (1 - 1j) / np.sqrt(frequency_hz)
    t = np.arange(50) * 0.5
    return RecordPlotData(
        frequency_hz=frequency_hz,
        z_measured=z,
        z_fit=z * 1.001,
        kk_residual_real=np.full(21, 1e-3),
        kk_residual_imag=np.full(21, -1e-3),
        discharge_time_s=np.linspace(0, 10800, 100) if with_discharge else np.zeros(0),
        discharge_voltage_v=np.linspace(4.1, 2.5, 100) if with_discharge else np.zeros(0),
        pulse_time_s=t,
        pulse_voltage_v=3.7 - 0.03 * (t > 5),
        pulse_current_a=-1.0 * (t > 5),
    )


def _row(cell_id: str, grade: str, soh: float) -> dict:
    return {
        "cell_id": cell_id, "measurement_id": f"m-{cell_id}", "soh": soh, "soh_low": soh - 0.05, "soh_high": soh + 0.05,
        "grade": grade, "residual_value": 12.5, "currency": "EUR", "method": "calibrated", "warnings": [],
        "r0_ohm": 0.031, "resistance_growth": 1.03,
    }


def test_page_has_summary_every_record_and_its_plots_and_no_network_reference() -> None:
    rows = [_row("C-1", "A", 0.93), _row("C-2", "recycle", 0.61), _row("<script>x</script>", "retest", float("nan"))]
    data = [_plot_data(True), _plot_data(False), _plot_data(False)]
    provenance = [{"station": "sim-station", "operator": "anna", "profile": "quick-grade"}] * 3
    page = report_html("Tray 7", rows, render_record_figures(data), provenance)

    assert page.index("id='summary'") < page.index("id='records'")
    assert page.count("<details id='rec-") == 3
    assert page.count("class='record' open>") == 3, "a page of a few records shows them all"
    # one summary figure plus one figure per record, each inline SVG
    assert page.count("<svg") == 4
    for title in ("Nyquist", "Bode |Z|", "Bode phase", "Lin-KK residuals", "CC discharge", "DC pulse"):
        assert page.count(title) >= 3, title
    assert "fitted circuit" in page
    assert "<script>" not in page, "a cell ID must be escaped, not executed"
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must work offline"
    assert "sim-station" in page and "anna" in page


def test_certificate_names_the_cell_grade_and_value() -> None:
    page = certificate_html(_row("C-9", "B", 0.84), {"station": "s1"}, record_figure_svg(_plot_data(False)))
    assert "C-9" in page and ">B<" in page and "84.0 %" in page and "12.50 EUR" in page


def test_record_figures_are_reproducible_and_small() -> None:
    data = [_plot_data(i % 2 == 0) for i in range(20)]
    figures = render_record_figures(data)
    assert len(figures) == 20 and all(svg.startswith("<svg") for svg in figures)
    assert figures[3] == render_record_figures(data[3:4])[0], "the same record always gives the same figure"
    assert max(len(svg.encode()) for svg in figures) < 15_000


@pytest.mark.parametrize("cell_id", ["../../etc/passwd", "a/b", "\x00\x07", "x" * 5000, ""])
def test_certificate_file_names_cannot_escape_the_folder(cell_id: str, tmp_path: Path) -> None:
    stem = safe_file_stem(cell_id, 3)
    assert "/" not in stem and ".." not in stem and len(stem) <= 70
    target = (tmp_path / f"{stem}.html").resolve()
    assert target.parent == tmp_path.resolve()


def test_bench_report_renders_measured_records_with_fits_and_certificates(tmp_path: Path) -> None:
    from cli_helpers import run_bench

    out = tmp_path / "run.h5"
    measured = run_bench("measure", "--sim", "--cell", "R-1", "--cell", "R-2", "--profile", "quick-grade",
                         "--out", str(out), "--quiet", timeout_s=180)
    assert measured.returncode == 0, measured.stderr
    page_path = tmp_path / "report.html"
    certificates = tmp_path / "certs"
    run_bench("report", str(out), "--html", str(page_path), "--certificates", str(certificates), check=True)
    page = page_path.read_text(encoding="utf-8")
    assert page.count("<details id='rec-") == 2
    assert page.count("<svg") == 3  # the summary figure and one per record
    assert page.count("fitted circuit") == 2 and page.count("not measured") == 2  # no discharge in quick-grade
    assert "sim-station" in page and "KEITHLEY" in page  # provenance: station and instrument identities
    assert sorted(p.name for p in certificates.iterdir()) == ["0001-R-1.html", "0002-R-2.html"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package `chromium`)")
def test_the_page_renders_offline_in_headless_chromium(tmp_path: Path) -> None:
    from matplotlib.image import imread

    rows = [_row("C-1", "A", 0.93), _row("C-2", "B", 0.82)]
    page = tmp_path / "report.html"
    page.write_text(report_html("Tray 7", rows, render_record_figures([_plot_data(True), _plot_data(False)]),
                                [{"station": "s"}] * 2), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = imread(shot)[:, :, :3]
    non_white = (pixels < 0.95).any(axis=2).mean()
    # matplotlib's default blue (C0, #1f77b4) marks the measured points of each record's plots
    blue = ((abs(pixels[:, :, 0] - 0x1F / 255) < 0.06) & (abs(pixels[:, :, 1] - 0x77 / 255) < 0.06)
            & (abs(pixels[:, :, 2] - 0xB4 / 255) < 0.06)).sum()
    assert non_white > 0.05, "the page rendered mostly blank"
    assert blue > 500, "no plotted data visible"
