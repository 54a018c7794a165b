"""The performance report (overall metrics and trend, top performers, underperformers, insights,
recommendations) as data, and its rendering as rich terminal tables.

The renderer reads only the JSON-ready dict, so ``--format table`` and ``--format json`` show the same
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from feedbackloop.engine.decisions import Decision
from feedbackloop.engine.result import NO_DATA, OK
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.tables import compact_table

__all__ = ["build_report", "recommendations", "render_report"]

_TARGET = {"promote": "promoted", "deprecate": "deprecated", "review": "review"}
_PRIORITY = {"deprecate": "high", "promote": "medium", "review": "medium"}
_PERFORMER_FIELDS = (
    "template_id", "name", "deals", "win_rate", "posterior_mean", "score", "p_better_than_average",
    "status", "action",
)  # fmt: skip
#: column headers of the rendered tables, where the JSON key is long (the JSON keeps the keys)
_HEADERS = {
    "win_rate": "win\nrate",
    "posterior_mean": "post.\nmean",
    "p_better_than_average": "P\n>avg",
}


def recommendations(
    decisions: Sequence[Decision], segments: Mapping[str, Any], win_loss: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """What to do next: template decisions first, then segment winners, then weak objection handling."""
    out: list[dict[str, Any]] = []
    for d in decisions:
        if d.action == "keep" or d.previous_status == _TARGET[d.action]:
            continue  # nothing to do, or already in that status (a standing decision is not news)
        note = " (pinned: not applied)" if d.pinned else ""
        out.append(
            {
                "kind": "template",
                "priority": _PRIORITY[d.action],
                "action": d.action,
                "template_id": d.template_id,
                "applied": d.changed,
                "message": f"{d.action} {d.template_id}: {d.reason}{note}",
            }
        )
    for w in segments.get("segment_winners") or []:
        out.append(
            {
                "kind": "segment",
                "priority": "medium",
                "action": "prefer_in_segment",
                "template_id": w["template_id"],
                "segment": w["segment"],
                "applied": False,
                "message": (
                    f"prefer {w['template_id']} in segment {w['segment']}: "
                    f"{_fmt(w['effect'])} log-odds above "
                    f"the average template there, {_fmt(w['deviation'])} more than in its other segments"
                ),
            }
        )
    closed = win_loss.get("deals_closed") or 0
    base = (win_loss.get("won") or 0) / closed if closed else None
    for o in win_loss.get("objections") or []:
        if base and o["deals"] >= 10 and o["resolution_rate"] is not None and o["resolution_rate"] < base / 2:
            out.append(
                {
                    "kind": "objection",
                    "priority": "low",
                    "action": "improve_objection_handling",
                    "category": o["category"],
                    "applied": False,
                    "message": (
                        f"'{o['category']}' objections are rarely overcome: {_pct(o['resolution_rate'])} of "
                        f"{o['deals']} deals won after raising it (overall win rate {_pct(base)})"
                    ),
                }
            )
    rank = {"high": 0, "medium": 1, "low": 2}
    return sorted(out, key=lambda r: rank.get(str(r["priority"]), 3))  # stable: template order kept


def _fmt(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _performer(t: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: t.get(k) for k in _PERFORMER_FIELDS if k in t}
    row["p_better_than_average"] = (t.get("decision_numbers") or {}).get("p_better_than_average")
    return row


def _insights(
    sections: Mapping[str, Any], ranked: Sequence[Mapping[str, Any]], settings: EngineSettings
) -> list[str]:
    overall: Mapping[str, Any] = sections.get("overall") or {}
    declining: Sequence[Mapping[str, Any]] = sections.get("declining") or []
    segments: Mapping[str, Any] = sections.get("segments") or {}
    win_loss: Mapping[str, Any] = sections.get("win_loss") or {}
    out = []
    if overall.get("recent_win_rate") is not None and overall.get("historical_win_rate") is not None:
        p = overall.get("win_rate_trend_p_value")
        sig = "significant" if p is not None and p < settings.alpha else "not significant"
        out.append(
            f"Win rate {_pct(overall['recent_win_rate'])} in the last {settings.recent_days} days vs "
            f"{_pct(overall['historical_win_rate'])} {settings.historical_end_days}–"
            f"{settings.historical_start_days} days ago "
            f"({_pct(overall.get('win_rate_trend'))} relative, {sig})."
        )
    if ranked:
        best = ranked[0]
        out.append(
            f"Strongest template: {best['template_id']} (adjusted effect {_fmt(best.get('score'))} log-odds, "
            f"raw win rate {_pct(best.get('win_rate'))} over {best.get('deals')} deals)."
        )
    if declining:
        names = ", ".join(str(d["template_id"]) for d in declining[:5])
        out.append(f"{len(declining)} template(s) declining significantly: {names}.")
    for w in (segments.get("segment_winners") or [])[:3]:
        out.append(
            f"{w['template_id']} works unusually well in {w['segment']} "
            f"(win rate {_pct(w['win_rate'])} vs {_pct(w['others_win_rate'])} without it there)."
        )
    best_patterns = (segments.get("sequence_patterns") or {}).get("best") or []
    if best_patterns:
        p0 = best_patterns[0]
        out.append(
            f"Best recurring sequence {' → '.join(p0['pattern'])}: "
            f"{_pct(p0['win_rate'])} over {p0['deals']} deals."
        )
    reasons = win_loss.get("loss_reasons") or []
    if reasons:
        out.append(f"Most common loss reason: {reasons[0]['label']} ({_pct(reasons[0]['share'])} of losses).")
    comps = win_loss.get("competitor_losses") or []
    if comps:
        c = comps[0]
        out.append(
            f"Most losses to a competitor: {c['competitor']} "
            f"({c['lost']} deals, {_pct(c['share_of_losses'])})."
        )
    objections = win_loss.get("objections") or []
    if objections:
        o = objections[0]
        out.append(
            f"Most frequent objection: {o['category']} "
            f"({o['deals']} deals, {_pct(o['resolution_rate'])} still won)."
        )
    return out


def build_report(
    sections: Mapping[str, Any], recs: Sequence[Mapping[str, Any]], settings: EngineSettings
) -> dict[str, Any]:
    """The report section: the seed's performance report as data.

    ``sections`` holds the already built ``overall``, ``templates``, ``declining``, ``segments`` and
    ``win_loss`` sections of the result.
    """
    overall: Mapping[str, Any] = sections.get("overall") or {}
    templates: Sequence[Mapping[str, Any]] = sections.get("templates") or []
    ranked = sorted(
        (t for t in templates if t.get("data_status") == OK and t.get("score") is not None),
        key=lambda t: float(t["score"]),
        reverse=True,
    )
    n = settings.report_top_n

    def centred(t: Mapping[str, Any]) -> float:
        value = (t.get("decision_numbers") or {}).get("centred_score")
        return float(t["score"] if value is None else value)

    top = [t for t in ranked if centred(t) >= 0 and t.get("action") != "deprecate"][:n]
    under = [t for t in ranked[::-1] if centred(t) < 0 or t.get("action") == "deprecate"][:n]
    return {
        "data_status": overall.get("data_status", NO_DATA),
        "overall": dict(overall),
        "top_performers": [_performer(t) for t in top],
        "underperformers": [_performer(t) for t in under],
        "insights": _insights(sections, ranked, settings),
        "recommendations": list(recs),
    }


def _table(title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Table | str:
    if not rows:
        return f"[bold]{title}[/bold]: [dim](none)[/dim]"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    numeric = [any(_is_number(r.get(c)) for r in rows) for c in columns]
    return compact_table(title, [_HEADERS.get(c, c) for c in columns], cells, numeric)


def _named(performers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Performer rows with id and name in one ``template`` cell (the name wraps, the id stays whole)."""
    return [{**p, "template": " ".join(str(v) for v in (p.get(k) for k in ("template_id", "name")) if v)}
            for p in performers]  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return " → ".join(map(str, value))
    return str(value)


def render_report(data: Mapping[str, Any], console: Console) -> None:
    """Print an analyze result (or just its report) as rich tables."""
    report = data.get("report", data)
    overall = report.get("overall") or {}
    console.print(
        f"[bold]Performance report[/bold] as of {data.get('as_of', '')} "
        f"(data: {report.get('data_status', '')})"
    )
    keys = ["deals_closed", "won", "lost", "win_rate", "baseline_win_rate", "recent_win_rate",
            "historical_win_rate", "win_rate_trend", "response_rate", "meeting_conversion"]  # fmt: skip
    console.print(
        _table("Overall", ["metric", "value"], [{"metric": k, "value": overall.get(k)} for k in keys])
    )
    cols = ["template", "deals", "win_rate", "posterior_mean", "score", "p_better_than_average", "status",
            "action"]  # fmt: skip
    console.print(_table("Top performers", cols, _named(report.get("top_performers") or [])))
    console.print(_table("Underperformers", cols, _named(report.get("underperformers") or [])))
    alerts = data.get("alerts") or []
    if alerts:
        console.print(_table("Alerts", ["severity", "kind", "subject", "title", "period"], alerts))
    console.print(_table("Insights", ["insight"], [{"insight": i} for i in report.get("insights") or []]))
    console.print(
        _table("Recommendations", ["priority", "action", "message"], report.get("recommendations") or [])
    )
