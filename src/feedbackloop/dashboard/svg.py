"""Server-side SVG charts: no JavaScript, no CDN, readable offline and in any browser.

Every data mark carries ``class="mark"`` and ``data-*`` attributes with the value it draws, and a
``<title>`` child that browsers show on hover, so tests (and people) can check that marks are bound to
data. Colours are the Okabe–Ito palette, which stays distinguishable under the common colour-vision
deficiencies; the heatmap uses one hue (white → blue) so it reads by lightness alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "OKABE_ITO",
    "STATUS_COLOURS",
    "Bar",
    "ForestRow",
    "bar_chart",
    "forest_plot",
    "heat_colour",
    "heatmap",
    "line_chart",
    "nice_max",
    "nice_scale",
    "pct",
]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
STATUS_COLOURS = {
    "promoted": OKABE_ITO["green"],
    "active": OKABE_ITO["blue"],
    "testing": OKABE_ITO["orange"],
    "review": OKABE_ITO["purple"],
    "deprecated": OKABE_ITO["vermillion"],
}
_FONT = "font-family:system-ui,sans-serif"
WIDTH = 520  # viewBox width: cards are 360-700 px wide, so text stays near its nominal size


def pct(value: float | None, digits: int = 0) -> str:
    """A share as a percentage, or an en dash when it could not be computed."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_t(label)}" '
        f'preserveAspectRatio="xMinYMin meet" style="{_FONT};width:100%;height:auto">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: object, *, anchor: str = "start", size: int = 11, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {extra}>{_t(text)}</text>'
    )


def _x_axis(x0: float, x1: float, y: float, hi: float, label: str) -> list[str]:
    """A share axis from 0 to ``hi`` (a :func:`nice_max` value) with round ticks."""
    out = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#444"/>']
    for v in _ticks(hi):
        x = x0 + (x1 - x0) * v / hi
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#444"/>')
        out.append(_text(x, y + 16, pct(v), anchor="middle", size=11))
    out.append(_text((x0 + x1) / 2, y + 32, label, anchor="middle", extra='class="axis-label"'))
    return out


def nice_scale(top: float, target: int = 5) -> tuple[float, float]:
    """An axis maximum ≥ ``top`` and a tick step of 1, 2, 2.5 or 5 × 10^k giving about ``target`` ticks."""
    top = max(top, 1e-9)
    raw = top / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(top / step - 1e-9), step


def nice_max(values: Sequence[float], floor: float = 0.05) -> float:
    """A rate axis maximum: a round share, at most 100%."""
    return min(1.0, nice_scale(max([floor, *values]))[0])


def _ticks(top: float) -> list[float]:
    hi, step = nice_scale(top)
    n = round(hi / step)
    return [step * i for i in range(n + 1)]


def line_chart(
    labels: Sequence[str],
    values: Sequence[float],
    counts: Sequence[int],
    baseline: float | None,
    *,
    x_label: str,
    y_label: str,
) -> str:
    """Points joined by a line over ordered labels (e.g. months), with a dashed baseline."""
    w, h, left, right, top, bottom = WIDTH, 280, 56, 16, 16, 58
    ymax = nice_max([*values, baseline or 0.0])
    n = len(values)

    def px(i: int) -> float:
        return left + (w - left - right) * (i + 0.5) / n

    def py(v: float) -> float:
        return top + (h - top - bottom) * (1 - v / ymax)

    body = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#444"/>']
    for v in _ticks(ymax):
        body.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{w - right}" y2="{py(v):.1f}" stroke="#ddd"/>')
        body.append(_text(left - 6, py(v) + 4, pct(v), anchor="end", size=11))
    body.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#444"/>')
    step = max(1, math.ceil(n / 7))  # about seven labels fit
    for i, lab in enumerate(labels):
        if i % step == 0:
            body.append(_text(px(i), h - bottom + 16, lab, anchor="middle", size=11))
    body.append(_text((left + w - right) / 2, h - 14, x_label, anchor="middle", extra='class="axis-label"'))
    body.append(
        _text(14, (top + h - bottom) / 2, y_label, anchor="middle",
              extra=f'class="axis-label" transform="rotate(-90 14 {(top + h - bottom) / 2})"')
    )  # fmt: skip
    if baseline is not None:
        y = py(baseline)
        body.append(
            f'<line class="baseline" data-value="{baseline:.4f}" x1="{left}" y1="{y:.1f}" x2="{w - right}" '
            f'y2="{y:.1f}" stroke="{OKABE_ITO["vermillion"]}" stroke-dasharray="6 4" stroke-width="2">'
            f"<title>baseline {pct(baseline, 1)}</title></line>"
        )
        body.append(_text(left + 4, y - 6, f"baseline {pct(baseline, 1)}", size=11))
    points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
    body.append(f'<polyline points="{points}" fill="none" stroke="{OKABE_ITO["blue"]}" stroke-width="2"/>')
    for i, (lab, v, c) in enumerate(zip(labels, values, counts, strict=True)):
        body.append(
            f'<circle class="mark" data-label="{_t(lab)}" data-value="{v:.4f}" data-count="{c}" '
            f'cx="{px(i):.1f}" cy="{py(v):.1f}" r="4" fill="{OKABE_ITO["blue"]}">'
            f"<title>{_t(lab)}: {pct(v, 1)} of {c} closed deals</title></circle>"
        )
    return _svg(w, h, body, y_label)


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One template in the forest plot."""

    label: str
    mean: float
    low: float
    high: float
    status: str
    deals: int


def forest_plot(rows: Sequence[ForestRow], baseline: float | None, *, x_label: str) -> str:
    """Posterior means with credible intervals, one row per template, coloured by status."""
    left, right, top, row_h = 84, 16, 10, 18
    w = WIDTH
    h = top + row_h * len(rows) + 56
    xmax = nice_max([r.high for r in rows] + [baseline or 0.0])

    def px(v: float) -> float:
        return left + (w - left - right) * v / xmax

    body: list[str] = []
    axis_y = top + row_h * len(rows) + 6
    if baseline is not None:
        body.append(
            f'<line class="baseline" data-value="{baseline:.4f}" x1="{px(baseline):.1f}" y1="{top}" '
            f'x2="{px(baseline):.1f}" y2="{axis_y}" stroke="#888" stroke-dasharray="4 3">'
            f"<title>baseline {pct(baseline, 1)}</title></line>"
        )
    for i, r in enumerate(rows):
        y = top + row_h * (i + 0.5)
        colour = STATUS_COLOURS.get(r.status, OKABE_ITO["black"])
        body.append(_text(left - 6, y + 4, r.label, anchor="end", size=11))
        body.append(
            f'<g class="mark" data-label="{_t(r.label)}" data-value="{r.mean:.4f}" data-low="{r.low:.4f}" '
            f'data-high="{r.high:.4f}" data-status="{_t(r.status)}">'
            f"<title>{_t(r.label)} ({_t(r.status)}): {pct(r.mean, 1)} "
            f"[{pct(r.low, 1)}–{pct(r.high, 1)}], {r.deals} deals</title>"
            f'<line x1="{px(r.low):.1f}" y1="{y:.1f}" x2="{px(r.high):.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="2"/><circle cx="{px(r.mean):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/></g>'
        )
    body += _x_axis(left, w - right, axis_y, xmax, x_label)
    return _svg(w, h, body, x_label)


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: a label, a value in [0, max], the text shown at its end and an optional colour."""

    label: str
    value: float
    text: str
    colour: str = OKABE_ITO["blue"]
    group: str = ""


def bar_chart(
    bars: Sequence[Bar],
    *,
    x_label: str,
    x_max: float | None = None,
    marker: float | None = None,
    marker_label: str = "",
    percent_axis: bool = False,
) -> str:
    """Horizontal bars (labels stay readable on a narrow screen), with an optional vertical marker."""
    left, right, top, row_h = 124, 84, 8, 20
    w = WIDTH
    h = top + row_h * len(bars) + 52
    xmax = x_max or nice_scale(max([1e-9, *(b.value for b in bars), marker or 0.0]))[0]

    def px(v: float) -> float:
        return left + (w - left - right) * min(v, xmax) / xmax

    body: list[str] = []
    prev_group = None
    for i, b in enumerate(bars):
        y = top + row_h * i
        # grouped bars (e.g. two periods of one template) name their group once
        label = (b.group or b.label) if b.group != prev_group or not b.group else ""
        prev_group = b.group
        body.append(_text(left - 6, y + row_h * 0.65, label, anchor="end", size=11))
        body.append(
            f'<rect class="mark" data-label="{_t(b.group + " · " + b.label if b.group else b.label)}" '
            f'data-value="{b.value:.4f}" x="{left}" y="{y + 3:.1f}" width="{max(px(b.value) - left, 1):.1f}" '
            f'height="{row_h - 6}" fill="{b.colour}"><title>{_t(b.group + " · " if b.group else "")}'
            f"{_t(b.label)}: {_t(b.text)}</title></rect>"
        )
        body.append(_text(px(b.value) + 4, y + row_h * 0.65, b.text, size=11))
    axis_y = top + row_h * len(bars) + 4
    body.append(f'<line x1="{left}" y1="{axis_y}" x2="{w - right}" y2="{axis_y}" stroke="#444"/>')
    for v in _ticks(xmax):
        x = px(v)
        tick = pct(v) if percent_axis else f"{v:g}"
        body.append(_text(x, axis_y + 14, tick, anchor="middle", size=11))
    if marker is not None:
        x = px(marker)
        body.append(
            f'<line class="marker" data-value="{marker:.4f}" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" '
            f'y2="{axis_y}" stroke="{OKABE_ITO["vermillion"]}" stroke-dasharray="5 3" stroke-width="2">'
            f"<title>{_t(marker_label)}</title></line>"
        )
    body.append(
        _text((left + w - right) / 2, axis_y + 32, x_label, anchor="middle", extra='class="axis-label"')
    )
    return _svg(w, h, body, x_label)


def heat_colour(value: float, vmax: float) -> str:
    """White → Okabe–Ito blue by ``value / vmax``."""
    f = max(0.0, min(1.0, value / vmax if vmax else 0.0))
    r, g, b = (round(255 + (c - 255) * f) for c in (0x00, 0x72, 0xB2))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: dict[tuple[str, str], tuple[float, int]],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """A rows × columns grid of win rates (value, deals); empty cells mean no deals."""
    left, top, cell_w, cell_h = 110, 40, 110, 18
    w = left + cell_w * len(columns) + 10
    h = top + cell_h * len(rows) + 30
    vmax = max([0.01, *(v for v, _ in cells.values())])
    body = [_text(left + cell_w * len(columns) / 2, 12, x_label, anchor="middle", extra='class="axis-label"')]
    for j, col in enumerate(columns):
        body.append(_text(left + cell_w * (j + 0.5), top - 8, col, anchor="middle", size=11))
    for i, row in enumerate(rows):
        y = top + cell_h * i
        body.append(_text(left - 6, y + cell_h * 0.7, row, anchor="end", size=11))
        for j, col in enumerate(columns):
            x = left + cell_w * j
            if (row, col) not in cells:
                body.append(
                    f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f3f3f3"/>'
                )
                continue
            v, n = cells[(row, col)]
            fill = heat_colour(v, vmax)
            ink = "#fff" if v / vmax > 0.55 else "#000"
            body.append(
                f'<rect class="mark" data-label="{_t(row)} × {_t(col)}" data-value="{v:.4f}" '
                f'data-count="{n}" x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}">'
                f"<title>{_t(row)} in {_t(col)}: {pct(v, 1)} of {n} deals</title></rect>"
            )
            body.append(_text(x + cell_w / 2, y + cell_h * 0.7, f"{pct(v)} ({n})", anchor="middle", size=11,
                              extra=f'fill="{ink}" pointer-events="none"'))  # fmt: skip
    body.append(_text(8, h - 8, y_label, extra='class="axis-label"'))
    return _svg(w, h, body, f"{y_label} by {x_label}")
