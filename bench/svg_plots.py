"""A record's six plots (Nyquist, Bode |Z| and phase, Lin-KK residuals, CC discharge, DC pulse) as compact inline SVG.

Why hand-written rather than matplotlib: matplotlib took ~0.35 s and wrote ~90 kB of SVG
per record figure, so a report of 1,000 records took minutes (even on every core) and
made a ~100 MB page that a browser struggles to open. These are six small line plots
with linear or logarithmic axes; drawing them directly costs a few milliseconds and
~10 kB per record. matplotlib still draws the page's two summary figures, once.

What a panel has: a frame, "nice" linear ticks (1, 2, 2.5, 5 × 10^k) or log decades
(with 2 and 5 in between when the data span less than two decades), tick labels, axis
labels with units, a line (relative path data, to 0.1 px) for each curve, round dots (one path of zero-length round-capped
segments) for measured points, a legend line above the frame, an optional second y axis
on the right, and "not measured" when the panel has no data. Colours follow matplotlib's
default cycle (#1f77b4 for measured data), so the page looks the same as before. All text
is escaped; there are no scripts, no ids and no external references, so any number of
figures can sit in one page.

Nothing here knows the store or the estimator: `RecordPlotData` holds plain arrays.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

FIGURE_WIDTH_PX = 900
FIGURE_HEIGHT_PX = 540
COLUMNS, ROWS = 3, 2
MAX_LINE_POINTS = 400  # longer series are thinned to min/max per bucket: the drawn envelope is the same at this width
MEASURED_COLOUR = "#1f77b4"  # matplotlib C0
FIT_COLOUR = "#ff7f0e"  # C1
CURRENT_COLOUR = "#d62728"  # C3
NARROW_CHARACTERS = frozenset("fijlrtI.,:;!| ")
GRID_COLOUR = "#e8e8e8"
FRAME_COLOUR = "#444"
MUTED_COLOUR = "#888"
MINUS = "\u2212"
# A style attribute, not a presentation attribute: a page's stylesheet outranks the latter, and matplotlib's
# inline SVG (the summary figures) brings `*{stroke-linecap: butt}`, which would make the dots vanish.
ROUND_CAPS = "stroke-linecap:round"


@dataclass(frozen=True)
class RecordPlotData:
    """Everything one record's figure shows; NaN-free arrays, possibly empty."""

    frequency_hz: np.ndarray
    z_measured: np.ndarray  # complex, Im(Z) natural sign
    z_fit: np.ndarray  # complex, same frequencies; empty when no fit
    kk_residual_real: np.ndarray  # relative to |Z|, same frequencies; empty when not computed
    kk_residual_imag: np.ndarray
    discharge_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    discharge_voltage_v: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pulse_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pulse_voltage_v: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pulse_current_a: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class Series:
    """One thing drawn in a panel: a line through the points, or a dot at each point."""

    x: np.ndarray
    y: np.ndarray
    colour: str
    label: str = ""  # shown in the legend line when not empty
    line: bool = True
    dots: bool = False
    dot_size_px: float = 4.5
    line_width_px: float = 1.5


@dataclass(frozen=True)
class Axis:
    """A data interval mapped onto a pixel interval, linearly or by log10, with its ticks."""

    lo: float
    hi: float
    px_lo: float
    px_hi: float
    log: bool = False
    ticks: tuple[float, ...] = ()

    def to_px(self, values: np.ndarray) -> np.ndarray:
        v = np.log10(values) if self.log else np.asarray(values, dtype=float)
        lo, hi = (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)
        return self.px_lo + (v - lo) / (hi - lo) * (self.px_hi - self.px_lo)


def esc(text: str) -> str:
    """Text for an SVG element or attribute: markup characters and quotes escaped."""
    return html.escape(text, quote=True)


def nice_step(span: float, target_ticks: int = 5) -> float:
    """The step among 1, 2, 2.5, 5 × 10^k that puts about `target_ticks` ticks on `span`."""
    raw = span / max(target_ticks - 1, 1)
    decade = 10.0 ** math.floor(math.log10(raw))
    return min((m * decade for m in (1.0, 2.0, 2.5, 5.0, 10.0)), key=lambda step: abs(math.log(step / raw)))


def padded_range(values: np.ndarray, fraction: float = 0.05) -> tuple[float, float]:
    """The data's min and max widened by `fraction` of the span, so no point sits on the frame."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * fraction
    return lo - pad, hi + pad


def linear_ticks(lo: float, hi: float, target_ticks: int = 5) -> tuple[float, ...]:
    """Multiples of a nice step that lie in [lo, hi]."""
    step = nice_step(hi - lo, target_ticks)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return tuple(k * step + 0.0 for k in range(first, last + 1))


def log_ticks(lo: float, hi: float) -> tuple[float, ...]:
    """Decades in [lo, hi], every other one past seven; less than two decades get 2 and 5 (or every digit) between them."""
    log_lo, log_hi = math.log10(lo), math.log10(hi)
    decades = list(range(math.ceil(log_lo - 1e-9), math.floor(log_hi + 1e-9) + 1))
    if len(decades) >= 2:
        stride = 2 if len(decades) > 7 else 1
        return tuple(10.0**k for k in decades[::stride])
    for mantissas in ((1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)):
        candidates = [m * 10.0**k for k in range(math.floor(log_lo), math.ceil(log_hi) + 1) for m in mantissas]
        inside = tuple(v for v in candidates if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9))
        if len(inside) >= 3:
            return inside
    return linear_ticks(lo, hi, 4)


def decimals_for(ticks: Sequence[float]) -> int:
    """The fewest decimals that write every tick exactly (0.25 needs two, 2.5 one, 20 none), to a thousandth of a step."""
    values = sorted(ticks)
    gaps = [b - a for a, b in zip(values, values[1:]) if b > a]
    tolerance = 1e-3 * (min(gaps) if gaps else abs(values[0]) if values and values[0] else 1.0)
    for decimals in range(13):
        if all(abs(round(t, decimals) - t) <= tolerance for t in values):
            return decimals
    return 12


def tick_label(value: float, decimals: int, log: bool) -> str:
    """A tick's text: a typographic minus, no "-0", thousands as "k" on log axes (1k for 1 kHz)."""
    if log:
        text = f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"
    else:
        text = f"{value + 0.0:.{decimals}f}"
        if float(text) == 0.0:
            text = f"{0.0:.{decimals}f}"
    return text.replace("-", MINUS)


def make_axis(values: np.ndarray, px_lo: float, px_hi: float, *, log: bool = False, target_ticks: int = 5) -> Axis:
    """An axis fitted to `values` (finite, and positive when log) with a 5 % margin."""
    if log:
        exp_lo, exp_hi = padded_range(np.log10(values))
        lo, hi = 10.0**exp_lo, 10.0**exp_hi
        return Axis(lo, hi, px_lo, px_hi, log=True, ticks=log_ticks(lo, hi))
    lo, hi = padded_range(values)
    return Axis(lo, hi, px_lo, px_hi, ticks=linear_ticks(lo, hi, target_ticks))


def equal_aspect(x_axis: Axis, y_axis: Axis, target_ticks: int = 5) -> tuple[Axis, Axis]:
    """Widen one axis about its centre so that one data unit is as long on both (a Nyquist arc stays round)."""
    x_per_px = (x_axis.hi - x_axis.lo) / abs(x_axis.px_hi - x_axis.px_lo)
    y_per_px = (y_axis.hi - y_axis.lo) / abs(y_axis.px_hi - y_axis.px_lo)
    per_px = max(x_per_px, y_per_px)

    def widened(axis: Axis) -> Axis:
        half = per_px * abs(axis.px_hi - axis.px_lo) / 2
        centre = (axis.lo + axis.hi) / 2
        lo, hi = centre - half, centre + half
        return Axis(lo, hi, axis.px_lo, axis.px_hi, ticks=linear_ticks(lo, hi, target_ticks))

    return widened(x_axis), widened(y_axis)


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_LINE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points that keep each bucket's first, lowest and highest point: a step or spike survives."""
    n = x.size
    if n <= max_points:
        return x, y
    buckets = max(max_points // 3, 1)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep = [n - 1]
    for start, stop in zip(edges[:-1], edges[1:]):
        if stop > start:
            chunk = y[start:stop]
            keep += [start, start + int(np.argmin(chunk)), start + int(np.argmax(chunk))]
    index = np.unique(np.asarray(keep))
    return x[index], y[index]


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _tenths(value: int) -> str:
    """An integer count of tenths of a pixel as short path-data text: 25 -> "2.5", -5 -> "-.5", 30 -> "3"."""
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    whole, tenth = divmod(magnitude, 10)
    if not tenth:
        return f"{sign}{whole}"
    return f"{sign}{whole or ''}.{tenth}"


def path_data(x_px: np.ndarray, y_px: np.ndarray, *, dots: bool = False) -> str:
    """Path data through the points, to 0.1 px: an absolute start, then relative steps (half the bytes of a polyline).

    The steps are differences of already rounded positions, so rounding never accumulates.
    With `dots`, each point is a zero-length segment, which a round line cap draws as a dot.
    """
    qx = np.rint(np.asarray(x_px) * 10).astype(np.int64).tolist()
    qy = np.rint(np.asarray(y_px) * 10).astype(np.int64).tolist()
    if not qx:
        return ""
    parts = [f"M{_tenths(qx[0])} {_tenths(qy[0])}"]
    deltas = [f"{_tenths(x1 - x0)} {_tenths(y1 - y0)}" for x0, x1, y0, y1 in zip(qx, qx[1:], qy, qy[1:])]
    if dots:
        parts.append("h0" + "".join(f"m{d}h0" for d in deltas))
    elif deltas:
        parts.append("l" + " ".join(deltas))
    return "".join(parts)


def _text(x: float, y: float, text: str, *, extra: str = "") -> str:
    """A text element; its anchor comes from the enclosing group."""
    return f'<text x="{_num(x)}" y="{_num(y)}"{extra}>{esc(text)}</text>'


def finite_points(x: np.ndarray, y: np.ndarray, x_log: bool, y_log: bool) -> tuple[np.ndarray, np.ndarray]:
    """The points an axis can place: finite, and positive on a log axis."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if x_log:
        keep &= x > 0
    if y_log:
        keep &= y > 0
    return x[keep], y[keep]


@dataclass(frozen=True)
class Frame:
    """A panel's plotting rectangle in figure pixels."""

    left: float
    top: float
    right: float
    bottom: float


def panel_svg(
    frame: Frame,
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    *,
    x_log: bool = False,
    y_log: bool = False,
    equal: bool = False,
    zero_line: bool = False,
    right_series: Series | None = None,
    right_label: str = "",
) -> str:
    """One panel: frame, grid, ticks and labels, the series, a legend line, and an optional right-hand y axis."""
    cleaned = [replace(s, x=x, y=y) for s in series for x, y in [finite_points(s.x, s.y, x_log, y_log)] if x.size]
    right = None
    if right_series is not None:
        rx, ry = finite_points(right_series.x, right_series.y, x_log, False)
        right = replace(right_series, x=rx, y=ry) if rx.size else None
    f = frame
    mid_x = (f.left + f.right) / 2
    out = [f'<g class="panel" data-title="{esc(title)}" text-anchor="middle">',
           _text(mid_x, f.top - 22, title, extra=' font-weight="600" font-size="12.5"'),
           _text(mid_x, f.bottom + 32, x_label),
           _text(f.left - 44, (f.top + f.bottom) / 2, y_label,
                 extra=f' transform="rotate(-90 {_num(f.left - 44)} {_num((f.top + f.bottom) / 2)})"')]
    if not cleaned:
        out.append(f'<rect x="{_num(f.left)}" y="{_num(f.top)}" width="{_num(f.right - f.left)}" '
                   f'height="{_num(f.bottom - f.top)}" fill="none" stroke="{FRAME_COLOUR}"/>')
        out.append(_text(mid_x, (f.top + f.bottom) / 2 + 4, "not measured", extra=f' fill="{MUTED_COLOUR}"'))
        out.append("</g>")
        return "".join(out)
    all_x = np.concatenate([s.x for s in cleaned] + ([right.x] if right else []))
    all_y = np.concatenate([s.y for s in cleaned])
    if zero_line:
        all_y = np.concatenate([all_y, [0.0]])
    x_axis = make_axis(all_x, f.left, f.right, log=x_log)
    y_axis = make_axis(all_y, f.bottom, f.top, log=y_log, target_ticks=5)
    if equal and not (x_log or y_log):
        x_axis, y_axis = equal_aspect(x_axis, y_axis)
    out.append(_ticks_svg(x_axis, y_axis, f))
    if zero_line and y_axis.lo < 0 < y_axis.hi:
        y0 = float(y_axis.to_px(np.array([0.0]))[0])
        out.append(f'<path d="M{_num(f.left)} {_num(y0)}H{_num(f.right)}" stroke="{MUTED_COLOUR}" stroke-width="0.8"/>')
    if right is not None:
        r_axis = make_axis(right.y, f.bottom, f.top, target_ticks=5)
        out.append(_right_ticks_svg(r_axis, f, right.colour, right_label))
        out.append(_series_svg(right, x_axis, r_axis))
    out += [_series_svg(s, x_axis, y_axis) for s in cleaned]
    out.append(f'<rect x="{_num(f.left)}" y="{_num(f.top)}" width="{_num(f.right - f.left)}" '
               f'height="{_num(f.bottom - f.top)}" fill="none" stroke="{FRAME_COLOUR}"/>')
    out.append(_legend_svg([s for s in cleaned if s.label], f))
    out.append("</g>")
    return "".join(out)


def _ticks_svg(x_axis: Axis, y_axis: Axis, f: Frame) -> str:
    x_decimals, y_decimals = decimals_for(x_axis.ticks), decimals_for(y_axis.ticks)
    xs = x_axis.to_px(np.array(x_axis.ticks)).tolist()
    ys = y_axis.to_px(np.array(y_axis.ticks)).tolist()
    grid = "".join(f"M{_num(x)} {_num(f.top)}V{_num(f.bottom)}" for x in xs) + "".join(
        f"M{_num(f.left)} {_num(y)}H{_num(f.right)}" for y in ys)
    marks = "".join(f"M{_num(x)} {_num(f.bottom)}v4" for x in xs) + "".join(f"M{_num(f.left)} {_num(y)}h-4" for y in ys)
    x_labels = "".join(_text(x, f.bottom + 15, tick_label(v, x_decimals, x_axis.log)) for x, v in zip(xs, x_axis.ticks))
    y_labels = "".join(_text(f.left - 6, y + 3.5, tick_label(v, y_decimals, y_axis.log)) for y, v in zip(ys, y_axis.ticks))
    return (f'<path d="{grid}" stroke="{GRID_COLOUR}"/><path d="{marks}" stroke="{FRAME_COLOUR}"/>'
            f'<g class="xticks">{x_labels}</g><g class="yticks" text-anchor="end">{y_labels}</g>')


def _right_ticks_svg(axis: Axis, f: Frame, colour: str, label: str) -> str:
    decimals = decimals_for(axis.ticks)
    ys = axis.to_px(np.array(axis.ticks)).tolist()
    marks = "".join(f"M{_num(f.right)} {_num(y)}h4" for y in ys)
    labels = "".join(_text(f.right + 6, y + 3.5, tick_label(v, decimals, False)) for y, v in zip(ys, axis.ticks))
    mid_y = (f.top + f.bottom) / 2
    return (f'<path d="{marks}" stroke="{colour}"/><g fill="{colour}"><g class="y2ticks" text-anchor="start">{labels}</g>'
            + _text(f.right + 48, mid_y, label, extra=f' transform="rotate(-90 {_num(f.right + 48)} {_num(mid_y)})"') + "</g>")


def _series_svg(s: Series, x_axis: Axis, y_axis: Axis) -> str:
    parts = []
    if s.line and s.x.size > 1:
        lx, ly = thin(s.x, s.y)
        parts.append(f'<path class="line" d="{path_data(x_axis.to_px(lx), y_axis.to_px(ly))}" fill="none" '
                     f'stroke="{s.colour}" stroke-width="{_num(s.line_width_px)}" stroke-linejoin="round"/>')
    if s.dots:
        parts.append(f'<path class="dots" d="{path_data(x_axis.to_px(s.x), y_axis.to_px(s.y), dots=True)}" stroke="{s.colour}" '
                     f'stroke-width="{_num(s.dot_size_px)}" style="{ROUND_CAPS}"/>')
    return "".join(parts)


def _legend_svg(series: Sequence[Series], f: Frame) -> str:
    """Entries right-aligned on a line just above the frame, where they cannot hide data."""
    if not series:
        return ""
    entries, x = [], f.right
    y = f.top - 7
    for s in reversed(series):
        entries.append(_text(x, y + 3.5, s.label))
        x -= text_width_px(s.label) + 5
        if s.line:
            entries.append(f'<path d="M{_num(x - 16)} {_num(y)}h16" stroke="{s.colour}" stroke-width="{_num(s.line_width_px)}"/>')
        if s.dots:
            entries.append(f'<path d="M{_num(x - 8)} {_num(y)}h0" stroke="{s.colour}" stroke-width="{_num(s.dot_size_px)}" '
                           f'style="{ROUND_CAPS}"/>')
        x -= 16 + 12
    return f'<g class="legend" text-anchor="end">{"".join(entries)}</g>'


def text_width_px(text: str) -> float:
    """Roughly how wide 11 px sans-serif text is, to place a legend marker beside its label."""
    return sum(3.2 if ch in NARROW_CHARACTERS else 6.2 for ch in text)


def _frame(column: int, row: int, *, right_axis: bool = False) -> Frame:
    cell_w, cell_h = FIGURE_WIDTH_PX / COLUMNS, FIGURE_HEIGHT_PX / ROWS
    x0, y0 = column * cell_w, row * cell_h
    return Frame(left=x0 + 62, top=y0 + 40, right=x0 + cell_w - (56 if right_axis else 18), bottom=y0 + cell_h - 44)


def record_figure_svg(data: RecordPlotData) -> str:
    """The six panels of one record in one <svg>: impedance in mΩ, phase in degrees, Lin-KK in %, discharge in h, pulse in s."""
    f = np.asarray(data.frequency_hz, dtype=float)
    z, fit = np.asarray(data.z_measured), np.asarray(data.z_fit)
    measured = dict(colour=MEASURED_COLOUR, line=False, dots=True)
    fitted = dict(colour=FIT_COLOUR)
    nyquist, magnitude, phase = [], [], []
    if z.size:
        nyquist.append(Series(z.real * 1e3, -z.imag * 1e3, label="measured", **measured))
        magnitude.append(Series(f, np.abs(z) * 1e3, **measured))
        phase.append(Series(f, np.degrees(np.angle(z)), **measured))
    if fit.size:
        nyquist.append(Series(fit.real * 1e3, -fit.imag * 1e3, label="fitted circuit", **fitted))
        magnitude.append(Series(f, np.abs(fit) * 1e3, **fitted))
        phase.append(Series(f, np.degrees(np.angle(fit)), **fitted))
    kk = []
    if np.asarray(data.kk_residual_real).size:
        kk = [Series(f, np.asarray(data.kk_residual_real) * 100, MEASURED_COLOUR, "real", dots=True, dot_size_px=3.5, line_width_px=1),
              Series(f, np.asarray(data.kk_residual_imag) * 100, FIT_COLOUR, "imag", dots=True, dot_size_px=3.5, line_width_px=1)]
    discharge = [Series(np.asarray(data.discharge_time_s) / 3600, data.discharge_voltage_v, MEASURED_COLOUR)]
    pulse = [Series(data.pulse_time_s, data.pulse_voltage_v, MEASURED_COLOUR)]
    current = Series(data.pulse_time_s, data.pulse_current_a, CURRENT_COLOUR, line_width_px=1.1)
    panels = [
        panel_svg(_frame(0, 0), "Nyquist", "Re Z / mΩ", "−Im Z / mΩ", nyquist, equal=True),
        panel_svg(_frame(1, 0), "Bode |Z|", "f / Hz", "|Z| / mΩ", magnitude, x_log=True, y_log=True),
        panel_svg(_frame(2, 0), "Bode phase", "f / Hz", "phase / °", phase, x_log=True),
        panel_svg(_frame(0, 1), "Lin-KK residuals", "f / Hz", "residual / %", kk, x_log=True, zero_line=True),
        panel_svg(_frame(1, 1), "CC discharge", "t / h", "V / V", discharge),
        panel_svg(_frame(2, 1, right_axis=True), "DC pulse", "t / s", "V / V", pulse, right_series=current, right_label="I / A"),
    ]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{FIGURE_WIDTH_PX}" height="{FIGURE_HEIGHT_PX}" '
            f'viewBox="0 0 {FIGURE_WIDTH_PX} {FIGURE_HEIGHT_PX}" font-family="sans-serif" font-size="11" fill="#222" '
            f'role="img">{"".join(panels)}</svg>')
