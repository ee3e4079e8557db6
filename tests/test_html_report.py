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


# --- the hand-drawn record figure: structure, numbers, escaping, size ---------------------------------

import xml.etree.ElementTree as ET  # noqa: E402

from bench import svg_plots  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"
PANEL_TITLES = ("Nyquist", "Bode |Z|", "Bode phase", "Lin-KK residuals", "CC discharge", "DC pulse")


def _panels(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # also proves the figure is well-formed XML
    return {g.get("data-title"): g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "panel"}


def _path_points(d: str) -> list[tuple[float, float]]:
    """The vertices of path data made of M, relative l / m steps and h0 (the forms the figure writes)."""
    tokens = re.findall(r"[MmlLhH]|-?(?:\d+\.?\d*|\.\d+)", d)
    points: list[tuple[float, float]] = []
    command, numbers, x, y = "", [], 0.0, 0.0
    for token in tokens + ["END"]:
        if token in ("M", "m", "l", "h", "END"):
            if command in ("M", "m", "l"):
                for dx, dy in zip(numbers[0::2], numbers[1::2]):
                    x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
                    points.append((x, y))
            elif command == "h":
                assert all(n == 0 for n in numbers), "dots are zero-length segments"
            command, numbers = token, []
        else:
            numbers.append(float(token))
    return points


def _series_points(panel: ET.Element, kind: str, colour: str) -> list[tuple[float, float]]:
    paths = [p for p in panel.iter(f"{SVG_NS}path") if p.get("class") == kind and p.get("stroke") == colour]
    assert len(paths) == 1, (kind, colour, len(paths))
    return _path_points(paths[0].get("d", ""))


def _tick_map(panel: ET.Element, group: str, log: bool = False):
    """(value, pixel) of each labelled tick of an axis, and a function from data value to pixel fitted through them."""
    labels = next(g for g in panel.iter(f"{SVG_NS}g") if g.get("class") == group)
    ticks = []
    for text in labels.iter(f"{SVG_NS}text"):
        label = text.text.replace("\u2212", "-")
        value = float(label[:-1]) * 1000 if label.endswith("k") else float(label)
        ticks.append((value, float(text.get("x" if group == "xticks" else "y"))))
    values = np.array([v for v, _ in ticks])
    pixels = np.array([p for _, p in ticks]) - (0.0 if group == "xticks" else 3.5)  # y labels sit 3.5 px below their tick
    slope, offset = np.polyfit(np.log10(values) if log else values, pixels, 1)
    return ticks, (lambda v: slope * (np.log10(v) if log else v) + offset)


def test_every_panel_is_drawn_with_every_valid_point() -> None:
    data = _plot_data(True)
    z = data.z_measured.copy()
    z[4] = np.nan  # a point the axes cannot place is left out, not drawn at a corner
    data = svg_plots.RecordPlotData(**{**data.__dict__, "z_measured": z})
    panels = _panels(record_figure_svg(data))
    assert tuple(panels) == PANEL_TITLES
    blue, orange = svg_plots.MEASURED_COLOUR, svg_plots.FIT_COLOUR
    assert len(_series_points(panels["Nyquist"], "dots", blue)) == 20
    assert len(_series_points(panels["Nyquist"], "line", orange)) == 21
    assert len(_series_points(panels["Bode |Z|"], "dots", blue)) == 20
    assert len(_series_points(panels["Bode phase"], "line", orange)) == 21
    assert len(_series_points(panels["Lin-KK residuals"], "line", blue)) == 21
    assert len(_series_points(panels["CC discharge"], "line", blue)) == 100
    assert len(_series_points(panels["DC pulse"], "line", blue)) == 50
    assert len(_series_points(panels["DC pulse"], "line", svg_plots.CURRENT_COLOUR)) == 50
    legend = "".join(panels["Nyquist"].itertext())
    assert "measured" in legend and "fitted circuit" in legend
    assert "I / A" in "".join(panels["DC pulse"].itertext()), "the pulse current has its own axis"


def test_log_axes_put_1_khz_right_of_0_1_hz_and_large_impedance_high() -> None:
    panel = _panels(record_figure_svg(_plot_data(True)))["Bode |Z|"]
    x_ticks, x_px = _tick_map(panel, "xticks", log=True)
    labels = {value: px for value, px in x_ticks}
    assert labels[1000.0] > labels[0.1]
    assert [v for v, _ in x_ticks] == [0.1, 1.0, 10.0, 100.0, 1000.0], "one labelled tick per decade"
    assert np.allclose(np.diff([px for _, px in x_ticks]), x_ticks[1][1] - x_ticks[0][1], atol=0.2), "decades evenly spaced"
    dots = _series_points(panel, "dots", svg_plots.MEASURED_COLOUR)
    assert dots[0][0] > dots[-1][0], "the first point (1 kHz) lies right of the last (0.1 Hz)"
    _y_ticks, y_px = _tick_map(panel, "yticks", log=True)
    data = _plot_data(True)
    expected = y_px(np.abs(data.z_measured) * 1e3)
    assert np.allclose([p[1] for p in dots], expected, atol=0.6), "|Z| placed on the log axis in mOhm"
    assert np.allclose([p[0] for p in dots], x_px(data.frequency_hz), atol=0.6)


def test_numbers_land_where_the_tick_labels_say_in_the_documented_units() -> None:
    data = _plot_data(True)
    panels = _panels(record_figure_svg(data))
    discharge = panels["CC discharge"]
    _, t_px = _tick_map(discharge, "xticks")
    _, v_px = _tick_map(discharge, "yticks")
    line = np.array(_series_points(discharge, "line", svg_plots.MEASURED_COLOUR))
    assert np.allclose(line[:, 0], t_px(data.discharge_time_s / 3600), atol=0.3), "discharge time in hours"
    assert np.allclose(line[:, 1], v_px(data.discharge_voltage_v), atol=0.3)
    nyquist = panels["Nyquist"]
    _, re_px = _tick_map(nyquist, "xticks")
    _, im_px = _tick_map(nyquist, "yticks")
    dots = np.array(_series_points(nyquist, "dots", svg_plots.MEASURED_COLOUR))
    assert np.allclose(dots[:, 0], re_px(data.z_measured.real * 1e3), atol=0.3), "Re Z in mOhm"
    assert np.allclose(dots[:, 1], im_px(-data.z_measured.imag * 1e3), atol=0.3), "-Im Z upwards, in mOhm"
    px_per_mohm_x = abs(re_px(1.0) - re_px(0.0))
    assert abs(px_per_mohm_x - abs(im_px(1.0) - im_px(0.0))) < 0.01 * px_per_mohm_x, "Nyquist axes share one scale"
    phase_ticks, phase_px = _tick_map(panels["Bode phase"], "yticks")
    phase = np.array(_series_points(panels["Bode phase"], "dots", svg_plots.MEASURED_COLOUR))
    assert np.allclose(phase[:, 1], phase_px(np.degrees(np.angle(data.z_measured))), atol=0.3), "phase in degrees"
    kk = np.array(_series_points(panels["Lin-KK residuals"], "dots", svg_plots.MEASURED_COLOUR))
    _, kk_px = _tick_map(panels["Lin-KK residuals"], "yticks")
    assert np.allclose(kk[:, 1], kk_px(data.kk_residual_real * 100), atol=0.3), "residuals in percent"
    _, current_px = _tick_map(panels["DC pulse"], "y2ticks")
    current = np.array(_series_points(panels["DC pulse"], "line", svg_plots.CURRENT_COLOUR))
    assert np.allclose(current[:, 1], current_px(data.pulse_current_a), atol=0.3), "current on its own axis, in A"


def test_tick_labels_are_few_distinct_numbers_that_do_not_collide() -> None:
    for title, panel in _panels(record_figure_svg(_plot_data(True))).items():
        for group in ("xticks", "yticks"):
            ticks, _ = _tick_map(panel, group, log=title.startswith("Bode") and group == "xticks")
            labels = [t.text for t in next(g for g in panel.iter(f"{SVG_NS}g") if g.get("class") == group)]
            assert 2 <= len(ticks) <= 8, (title, group, labels)
            assert len(set(labels)) == len(labels), (title, group, labels)
            spacing = np.diff(sorted(px for _, px in ticks))
            assert spacing.min() >= (14 if group == "yticks" else 7 * max(map(len, labels))), (title, group, labels)
            assert not any(label.startswith("-") for label in labels), "a typographic minus, as in print"


def test_nice_ticks() -> None:
    assert np.allclose(svg_plots.linear_ticks(0.0, 1.0), [0, 0.25, 0.5, 0.75, 1.0])
    assert np.allclose(svg_plots.linear_ticks(-0.3, 1.7), [0, 0.5, 1.0, 1.5]), "only ticks inside the range"
    assert svg_plots.log_ticks(0.08, 1200) == (0.1, 1.0, 10.0, 100.0, 1000.0)
    assert svg_plots.log_ticks(1.9, 5.2) == (2.0, 3.0, 4.0, 5.0), "within a decade, every digit"
    assert svg_plots.decimals_for([0.0, 0.25, 0.5]) == 2 and svg_plots.decimals_for([-5.0, 0.0, 5.0]) == 0
    assert svg_plots.tick_label(-1e-17, 1, False) == "0.0", "never a negative zero"
    assert svg_plots.tick_label(-2.5, 1, False) == "\u22122.5" and svg_plots.tick_label(1000.0, 0, True) == "1k"


def test_empty_panels_say_not_measured_and_constant_data_still_has_an_axis() -> None:
    empty = svg_plots.RecordPlotData(np.zeros(0), np.zeros(0, complex), np.zeros(0, complex), np.zeros(0), np.zeros(0))
    panels = _panels(record_figure_svg(empty))
    assert all("not measured" in "".join(panel.itertext()) for panel in panels.values())
    flat = svg_plots.RecordPlotData(np.zeros(0), np.zeros(0, complex), np.zeros(0, complex), np.zeros(0), np.zeros(0),
                                    discharge_time_s=np.arange(5.0), discharge_voltage_v=np.full(5, 3.6))
    panel = _panels(record_figure_svg(flat))["CC discharge"]
    ticks, _ = _tick_map(panel, "yticks")
    assert ticks and min(v for v, _ in ticks) <= 3.6 <= max(v for v, _ in ticks)


def test_long_series_are_thinned_but_keep_their_extremes() -> None:
    t = np.arange(100_000) * 0.1
    v = 3.7 - 0.05 * ((t > 5000) & (t < 5000.3))  # a spike three samples wide
    data = svg_plots.RecordPlotData(np.zeros(0), np.zeros(0, complex), np.zeros(0, complex), np.zeros(0), np.zeros(0),
                                    pulse_time_s=t, pulse_voltage_v=v, pulse_current_a=np.zeros_like(t))
    svg = record_figure_svg(data)
    line = np.array(_series_points(_panels(svg)["DC pulse"], "line", svg_plots.MEASURED_COLOUR))
    assert len(line) <= svg_plots.MAX_LINE_POINTS
    assert line[:, 1].max() - line[:, 1].min() > 100, "the spike is still drawn"
    assert len(svg.encode()) < 15_000


def test_text_is_escaped_inside_the_svg() -> None:
    frame = svg_plots.Frame(60, 40, 280, 220)
    series = [svg_plots.Series(np.arange(3.0), np.arange(3.0), "#1f77b4", label="<script>alert(1)</script>")]
    svg = svg_plots.panel_svg(frame, "<b>&", "x </text>", 'y "q"', series)
    assert "<script>" not in svg and "</text>\"" not in svg
    parsed = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{svg}</svg>')
    texts = [t.text for t in parsed.iter(f"{SVG_NS}text")]
    assert "<b>&" in texts and "x </text>" in texts and "<script>alert(1)</script>" in texts


def test_a_thousand_records_make_a_page_under_20_mb() -> None:
    from bench.estimate import evaluate
    from bench.estimate.synthetic import synthetic_batch
    from bench.html_report import plot_data_for, spectrum_overlays

    batch, _truth = synthetic_batch(1000, seed=1, with_discharge=True)
    rows = evaluate(batch).to_rows()
    z_fit, kk = spectrum_overlays(batch)
    figures = render_record_figures([plot_data_for(batch, i, z_fit, kk) for i in range(1000)])
    page = report_html("scale", rows, figures, [{"record": str(k)} for k in batch.record_key])
    assert page.count("<details id='rec-") == 1000 and page.count("class='record' open>") == 0
    assert page.count('data-title="Nyquist"') == 1000 and page.count("fitted circuit") == 1000
    assert len(page.encode()) < 20_000_000


@pytest.mark.parametrize("scale", [1e-9, 1e-4, 1.0, 1e5])
def test_tick_labels_stay_distinct_at_any_scale(scale: float) -> None:
    f = np.logspace(3, -1, 11)
    residual = scale * np.sin(np.arange(11.0))
    data = svg_plots.RecordPlotData(f, np.zeros(0, complex), np.zeros(0, complex), residual, -residual,
                                    pulse_time_s=np.arange(11.0), pulse_voltage_v=3.7 + residual, pulse_current_a=residual)
    panels = _panels(record_figure_svg(data))
    for title, group in (("Lin-KK residuals", "yticks"), ("DC pulse", "yticks"), ("DC pulse", "y2ticks")):
        labels = [t.text for t in next(g for g in panels[title].iter(f"{SVG_NS}g") if g.get("class") == group)]
        assert len(labels) >= 2 and len(set(labels)) == len(labels), (title, group, labels)
