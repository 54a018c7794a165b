"""The demo's closing summary: what the engine found, in a few readable tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from feedbackloop.tables import compact_table

__all__ = ["print_findings"]


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def _template_table(title: str, rows: list[dict[str, Any]]) -> Table:
    columns = ["template", "deals", "win rate", "95% interval", "score", "status"]
    cells = [
        [
            str(t.get("name") or t["template_id"]),
            str(t["deals"]),
            _fmt(t.get("win_rate"), "{:.1%}"),
            f"{_fmt(t.get('ci_low'), '{:.1%}')} – {_fmt(t.get('ci_high'), '{:.1%}')}",
            _fmt(t.get("score"), "{:+.2f}"),
            str(t.get("status")),
        ]
        for t in rows
    ]
    numeric = [c not in ("template", "status") for c in columns]
    # the interval has spaces but must stay on one line: only the names wrap
    return compact_table(title, columns, cells, numeric, [c == "template" for c in columns])


def print_findings(
    console: Console, label: str, data: dict[str, Any], truth: dict[str, Any] | None = None
) -> None:
    """Top and bottom templates, declining ones and the decisions of one analysis."""
    overall = data.get("overall", {})
    console.print(
        f"\n[bold]{label}[/bold]: {overall.get('deals_closed', 0)} closed deals, "
        f"win rate {_fmt(overall.get('win_rate'), '{:.1%}')} "
        f"(baseline {_fmt(overall.get('baseline_win_rate'), '{:.1%}')})"
    )
    scored = [t for t in data.get("templates", []) if t.get("score") is not None]
    scored.sort(key=lambda t: float(t["score"]), reverse=True)
    console.print(_template_table("Top templates (adjusted score)", scored[:5]))
    console.print(_template_table("Bottom templates", scored[-5:][::-1]))
    declining = data.get("declining", [])
    if declining:
        columns = ["template", "recent", "historical", "change", "q-value"]
        template_names = {str(t["template_id"]): t.get("name") for t in data.get("templates", [])}
        cells = [
            [
                str(d.get("name") or template_names.get(str(d["template_id"])) or d["template_id"]),
                _fmt(d.get("recent_win_rate"), "{:.1%}"),
                _fmt(d.get("historical_win_rate"), "{:.1%}"),
                _fmt(d.get("relative_change"), "{:+.0%}"),
                _fmt(d.get("q_value"), "{:.3g}"),
            ]
            for d in declining
        ]
        table = compact_table("Declining templates", columns, cells, [c != "template" for c in columns])
        console.print(table)
    else:
        console.print("No template is declining significantly.")
    actions: dict[str, list[str]] = {}
    for t in data.get("templates", []):
        if t.get("action") in ("promote", "deprecate", "review"):
            actions.setdefault(str(t["action"]), []).append(str(t.get("name") or t["template_id"]))
    for action, names in sorted(actions.items()):
        console.print(
            f"[bold]{action}[/bold] ({len(names)}): {', '.join(names[:8])}{' …' if len(names) > 8 else ''}"
        )
    if truth:
        _print_truth_check(console, data, truth)


def _print_truth_check(console: Console, data: dict[str, Any], truth: dict[str, Any]) -> None:
    """How the findings compare with the simulated world's known truth."""
    effects = {k: float(v["effect"]) for k, v in truth["templates"].items()}
    mean = sum(effects.values()) / max(len(effects), 1)
    flagged = {str(d["template_id"]) for d in data.get("declining", [])}
    really = {k for k, v in truth["templates"].items() if v["declining"]}
    deprecated = [str(t["template_id"]) for t in data.get("templates", []) if t.get("status") == "deprecated"]
    wrong = [t for t in deprecated if effects.get(t, mean) > mean]
    console.print(
        f"[dim]Known truth: {len(flagged & really)}/{len(really)} truly declining templates flagged, "
        f"{len(flagged - really)} false alarm(s); {len(deprecated)} deprecated, "
        f"{len(wrong)} of them with an above-average true effect.[/dim]"
    )
