"""The dashboard as one self-contained HTML page: inline CSS, inline SVG, the data as embedded JSON.

Each chart is a ``<section class="chart" data-chart="…">``; a chart without enough data shows a
``<p class="placeholder">`` saying so instead of an empty or broken drawing.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from feedbackloop.dashboard.svg import (
    OKABE_ITO,
    STATUS_COLOURS,
    Bar,
    ForestRow,
    bar_chart,
    forest_plot,
    heatmap,
    line_chart,
    nice_max,
    nice_scale,
    pct,
)

__all__ = ["CHARTS", "render_dashboard"]

CHARTS = ("winrate", "leaderboard", "declining", "heatmap", "abtests", "loss_reasons", "stages_lost",
          "competitors", "alerts")  # fmt: skip
_MIN_MONTHS = 2

_CSS = """
:root{color-scheme:light}*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}
header{padding:16px 20px;background:#fff;border-bottom:1px solid #ddd}
header h1{margin:0;font-size:1.3rem}header p{margin:4px 0 0;color:#555;font-size:.9rem}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,560px),1fr));gap:16px;padding:16px}
.chart{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 14px;min-width:0;overflow-x:auto}
.chart h2{margin:0 0 4px;font-size:1.05rem}.chart .note{margin:0 0 8px;color:#555;font-size:.85rem}
.placeholder{padding:24px;text-align:center;color:#555;background:#f3f3f3;border-radius:6px}
.kpis{display:flex;flex-wrap:wrap;gap:8px 20px;margin:8px 0 0;font-size:.9rem}.kpis b{font-size:1.1rem}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:.8rem;margin:4px 0}
.legend span::before{content:"";display:inline-block;width:10px;height:10px;margin-right:4px;
background:var(--c);border-radius:2px}
ul.alerts{list-style:none;padding:0;margin:0}
ul.alerts li{padding:6px 8px;border-left:4px solid #888;margin-bottom:6px;background:#fafafa}
ul.alerts li.high{border-color:#D55E00}ul.alerts li.medium{border-color:#E69F00}
.axis-label{font-size:11px;fill:#333}
@media (max-width:600px){main{padding:8px;gap:8px}header{padding:12px}.chart svg{min-width:400px}}
"""


def _section(key: str, title: str, note: str, body: str) -> str:
    return (
        f'<section class="chart" data-chart="{key}" id="chart-{key}"><h2>{escape(title)}</h2>'
        f'<p class="note">{escape(note)}</p>{body}</section>'
    )


def _placeholder(text: str = "Not enough data yet.") -> str:
    return f'<p class="placeholder">{escape(text)}</p>'


def _legend(colours: dict[str, str]) -> str:
    items = "".join(f'<span style="--c:{c}">{escape(k)}</span>' for k, c in colours.items())
    return f'<div class="legend">{items}</div>'


def _winrate(d: dict[str, Any]) -> str:
    months = d["monthly"]
    if len(months) < _MIN_MONTHS:
        return _placeholder("Not enough data yet: win rates need closed deals in at least two months.")
    return line_chart(
        [m["month"] for m in months],
        [m["win_rate"] for m in months],
        [m["closed"] for m in months],
        d["baseline_win_rate"],
        x_label="Close month",
        y_label="Win rate (won / won + lost)",
    )


def _leaderboard(d: dict[str, Any]) -> str:
    rows = [
        ForestRow(t["template_id"], t["posterior_mean"], t["ci_low"], t["ci_high"], t["status"] or "active",
                  t["deals"])
        for t in d["templates"]
    ]  # fmt: skip
    if not rows:
        return _placeholder("Not enough data yet: no template has closed deals.")
    legend = _legend({k: v for k, v in STATUS_COLOURS.items() if any(r.status == k for r in rows)})
    return legend + forest_plot(
        rows, d["baseline_win_rate"], x_label="Win rate: posterior mean and 95% interval"
    )


def _declining(d: dict[str, Any]) -> str:
    rows = d["declining"]
    if not rows:
        return _placeholder("No template is declining significantly.")
    bars = []
    for r in rows:
        q = "–" if r.get("q_value") is None else f"{r['q_value']:.3f}"
        for label, key, n, colour in (
            ("60–90 days ago", "historical_win_rate", "historical_deals", OKABE_ITO["sky_blue"]),
            ("last 30 days", "recent_win_rate", "recent_deals", OKABE_ITO["vermillion"]),
        ):
            value = r.get(key) or 0.0
            text = f"{pct(value)} of {r.get(n) or 0}" + (f", q={q}" if key == "recent_win_rate" else "")
            bars.append(Bar(label, value, text, colour, group=str(r["template_id"])))
    legend = _legend({"60–90 days ago": OKABE_ITO["sky_blue"], "last 30 days": OKABE_ITO["vermillion"]})
    return legend + bar_chart(bars, x_label="Win rate", x_max=nice_max([b.value * 1.15 for b in bars]),
                              percent_axis=True)  # fmt: skip


def _heatmap(d: dict[str, Any]) -> str:
    hm = d["heatmap"]
    if not hm["cells"]:
        return _placeholder()
    cells = {(c["template_id"], c["segment"]): (c["win_rate"], c["deals"]) for c in hm["cells"]}
    return heatmap(hm["templates"], hm["segments"], cells, x_label="Segment", y_label="Rows: templates")


def _abtests(d: dict[str, Any]) -> str:
    if not d["tests"]:
        return _placeholder("No A/B test yet. Start one with `feedbackloop tests create`.")
    parts = []
    for t in d["tests"]:
        bars = [
            Bar(v, float(n), f"{n} closed ({pct(w / n if n else None)})", OKABE_ITO["blue"] if i else "#666")
            for i, (v, n, w) in enumerate(zip(t["variants"], t["samples"], t["wins"], strict=True))
        ]
        p = "–" if t["p_value"] is None else f"{t['p_value']:.3g}"
        head = (
            f"<h3 style='font-size:.95rem;margin:8px 0 0'>{escape(t['test_id'])}: {escape(t['status'])}"
            f" · always-valid p = {p}{' · winner ' + escape(t['winner']) if t['winner'] else ''}</h3>"
        )
        top = nice_scale(max([t["min_sample"], *t["samples"]]) * 1.1)[0]
        parts.append(
            head + bar_chart(bars, x_label="Closed deals per arm (dashed: minimum sample)", x_max=top,
                             marker=float(t["min_sample"]), marker_label=f"minimum sample {t['min_sample']}")
        )  # fmt: skip
    return "".join(parts)


def _counts(rows: list[dict[str, Any]], label_key: str, value_key: str, empty: str, x_label: str) -> str:
    rows = [r for r in rows if r.get(value_key)][:12]
    if not rows:
        return _placeholder(empty)
    bars = [Bar(str(r[label_key]), float(r[value_key]), f"{r[value_key]}", OKABE_ITO["orange"]) for r in rows]
    return bar_chart(bars, x_label=x_label)


def _alerts(d: dict[str, Any]) -> str:
    if not d["alerts"]:
        return _placeholder("No alerts.")

    def item(a: dict[str, Any]) -> str:
        title, subject, period = (escape(str(a.get(k))) for k in ("title", "subject", "period"))
        return (
            f'<li class="mark {escape(str(a.get("severity")))}" data-key="{escape(str(a.get("key")))}">'
            f"<b>{title}</b> · {subject} · {period}</li>"
        )

    items = "".join(item(a) for a in d["alerts"])
    return f'<ul class="alerts">{items}</ul>'


def _kpis(d: dict[str, Any]) -> str:
    o = d["overall"]
    items = [
        ("closed deals", o.get("deals_closed")),
        ("win rate", pct(o.get("win_rate"), 1)),
        ("baseline", pct(d.get("baseline_win_rate"), 1)),
        ("last 30 days", pct(o.get("recent_win_rate"), 1)),
        ("60–90 days ago", pct(o.get("historical_win_rate"), 1)),
    ]
    return (
        '<div class="kpis">'
        + "".join(f"<span>{k}: <b>{escape(str(v))}</b></span>" for k, v in items)
        + "</div>"
    )


def render_dashboard(d: dict[str, Any]) -> str:
    """The whole page for :func:`feedbackloop.dashboard.data.build_dashboard`'s data."""
    sections = [
        _section("winrate", "Win rate over time", "Closed deals by close month; dashed: the baseline.",
                 _winrate(d)),
        _section("leaderboard", "Template leaderboard",
                 "Posterior mean win rate with its 95% credible interval, coloured by status; "
                 "dashed: baseline.", _leaderboard(d)),
        _section("declining", "Declining templates",
                 "Significant drops only (adjusted, FDR-corrected q-value).", _declining(d)),
        _section("heatmap", "Segment × template",
                 "Raw win rate (deals) of the busiest templates per segment.", _heatmap(d)),
        _section("abtests", "A/B tests", "Progress toward a decision: closed deals per arm vs the minimum.",
                 _abtests(d)),
        _section("loss_reasons", "Loss reasons", "Lost deals by reason.",
                 _counts(d["loss_reasons"], "label", "lost", "No loss reasons recorded.", "Lost deals")),
        _section("stages_lost", "Stage lost", "Lost deals by the stage they were lost at.",
                 _counts(d["stages_lost"], "label", "lost", "No lost stages recorded.", "Lost deals")),
        _section("competitors", "Competitors", "Deals lost to each competitor.",
                 _counts(d["competitors"], "competitor", "lost", "No competitor losses recorded.",
                         "Lost deals")),
        _section("alerts", "Alerts", "Recent alerts (once per condition and period).", _alerts(d)),
    ]  # fmt: skip
    payload = json.dumps(d, separators=(",", ":")).replace("</", "<\\/")
    title = f"feedbackloop · {d['tenant']}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>As of {escape(d['as_of'][:16].replace('T', ' '))} UTC · data: "
        f"{escape(str(d['data_status']))}</p>{_kpis(d)}</header><main>{''.join(sections)}</main>"
        f'<script type="application/json" id="dashboard-data">{payload}</script></body></html>'
    )
