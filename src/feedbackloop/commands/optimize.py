"""`feedbackloop tests create|list|show|stop` and `feedbackloop select`: the optimizer from the shell."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state
from feedbackloop.domain import TemplateStatus
from feedbackloop.errors import EngineError, UsageError

if TYPE_CHECKING:
    from feedbackloop.engine.optimizer.abtest import ABTest

__all__ = ["select", "tests_app"]

tests_app = typer.Typer(help="Create, list, show and stop A/B tests of templates.", no_args_is_help=True)

TenantOption = typer.Option(None, "--tenant", "-t", help="Tenant name (optional when there is only one).")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")
VariantsArgument = typer.Argument(..., help="Template ids, the control first.")


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(test: ABTest) -> dict[str, Any]:
    return {
        "test_id": test.test_id,
        "status": test.status,
        "variants": test.variants,
        "segment": test.segment,
        "started_at": test.started_at.isoformat(),
        "outcomes": [w + lo for w, lo in zip(test.wins, test.losses, strict=True)],
        "winner": test.winner,
    }


@tests_app.command("create")
def create_test(
    ctx: typer.Context,
    *,
    variants: list[str] = VariantsArgument,
    tenant: str | None = TenantOption,
    allocation: str | None = typer.Option(None, "--allocation", help="Weights per variant, e.g. 50,50."),
    min_sample: int = typer.Option(100, "--min-sample", help="Closed deals per variant before a decision."),
    max_days: float = typer.Option(42.0, "--max-days", help="End without a winner after this many days."),
    segment: str | None = typer.Option(None, "--segment", help="Only serve the test in this segment."),
    traffic: float = typer.Option(1.0, "--traffic", help="Share of prospects entering the test (0-1]."),
    test_id: str | None = typer.Option(None, "--id", help="Test id (default: generated)."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Start an A/B test; prospects are assigned stickily and the winner is promoted when it is decided.

    Example: feedbackloop tests create intro-v1 intro-v2 --allocation 50,50 --min-sample 200 --tenant acme
    """
    from feedbackloop.engine.optimizer.abtest import ABTest
    from feedbackloop.engine.optimizer.state import load_or_build_optimizer, save_optimizer

    app = state(ctx)
    ref = app.tenant(tenant)
    known = set(app.store.templates_frame(ref)["template_id"])
    missing = [v for v in variants if v not in known]
    if missing:
        raise UsageError(f"unknown template(s) {', '.join(missing)} in tenant {ref.name!r}")
    weights = [1.0] * len(variants)
    if allocation:
        try:
            weights = [float(x) for x in allocation.split(",")]
        except ValueError:
            raise UsageError(
                f"--allocation must be numbers separated by commas, not {allocation!r}"
            ) from None
    optimizer, _ = load_or_build_optimizer(app.store, ref)
    test_id = test_id or uuid.uuid4().hex[:8]
    if test_id in optimizer.tests:
        raise UsageError(f"an A/B test {test_id!r} already exists")
    try:
        test = ABTest(
            test_id,
            list(variants),
            weights,
            started_at=_now(),
            min_sample=min_sample,
            max_days=max_days,
            segment=segment,
            traffic=traffic,
        )
    except EngineError as exc:  # invalid options given on the command line
        raise UsageError(str(exc)) from None
    optimizer.add_test(test)
    for variant in variants[1:]:
        optimizer.set_status(variant, TemplateStatus.TESTING)
        app.store.set_template_status(ref, variant, "testing", actor="human", reason=f"A/B test {test_id}")
    save_optimizer(app.store, ref, optimizer)
    emit(
        _summary(test),
        fmt,
        lambda d: console.print(f"started A/B test {d['test_id']}: {', '.join(d['variants'])}"),
    )


@tests_app.command("list")
def list_tests_command(
    ctx: typer.Context, *, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption
) -> None:
    """List the tenant's A/B tests, oldest first.

    Example: feedbackloop tests list --tenant acme --format json
    """
    from feedbackloop.engine.optimizer.state import load_tests

    app = state(ctx)
    data = [_summary(t) for t in load_tests(app.store, app.tenant(tenant))]

    def render(rows: list[dict[str, Any]]) -> None:
        table_rows = [
            [
                r["test_id"],
                r["status"],
                " / ".join(r["variants"]),
                r["segment"] or "all",
                r["started_at"][:10],
                " / ".join(map(str, r["outcomes"])),
                r["winner"] or "",
            ]
            for r in rows
        ]
        console.print(
            simple_table(
                "A/B tests",
                ["id", "status", "variants", "segment", "started", "outcomes", "winner"],
                table_rows,
            )
        )

    emit(data, fmt, render)


@tests_app.command("show")
def show_test(
    ctx: typer.Context, test_id: str, *, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption
) -> None:
    """Show a test: counts, always-valid p-values and intervals, and the sample-ratio check.

    Example: feedbackloop tests show 3f9a1c2b --tenant acme
    """
    from feedbackloop.engine.optimizer.state import load_test

    app = state(ctx)
    test = load_test(app.store, app.tenant(tenant), test_id)
    data = {**test.to_state(), "comparisons": test.comparisons(), "srm_pvalue": test.srm_pvalue()}

    def render(d: dict[str, Any]) -> None:
        console.print(f"A/B test {d['test_id']}: {d['status']} {('- ' + d['reason']) if d['reason'] else ''}")
        console.print(
            simple_table(
                "Variants",
                ["variant", "allocation", "assigned", "won", "lost"],
                [
                    [v, a, n, w, lo]
                    for v, a, n, w, lo in zip(
                        d["variants"], d["allocation"], d["assignments"], d["wins"], d["losses"], strict=True
                    )
                ],
            )
        )
        console.print(
            simple_table(
                "Against the control (always-valid)",
                ["variant", "difference", "p", "significant"],
                [
                    [c["variant"], c["difference"], c["p_value"], str(c["significant"])]
                    for c in d["comparisons"]
                ],
            )
        )
        console.print(
            f"sample-ratio check p = {d['srm_pvalue'] if d['srm_pvalue'] is not None else 'n/a (too few)'}"
        )

    emit(data, fmt, render)


@tests_app.command("stop")
def stop_test(
    ctx: typer.Context,
    test_id: str,
    *,
    tenant: str | None = TenantOption,
    promote: str | None = typer.Option(None, "--promote", help="Promote this variant as you stop."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Stop a running test; variants under test return to active unless one is promoted.

    Example: feedbackloop tests stop 3f9a1c2b --promote intro-v2 --tenant acme
    """
    from feedbackloop.engine.optimizer.state import load_optimizer, load_test, save_optimizer, save_test

    app = state(ctx)
    ref = app.tenant(tenant)
    optimizer = load_optimizer(app.store, ref)
    test = optimizer.tests.get(test_id) if optimizer else None
    if optimizer is None or test is None:
        stored = load_test(app.store, ref, test_id)  # raises the usage error listing known tests
        if not stored.running:
            raise UsageError(f"A/B test {test_id!r} already ended ({stored.status})")
        raise UsageError(f"A/B test {test_id!r} has no optimizer state")
    if promote is not None and promote not in test.variants:
        raise UsageError(f"{promote!r} is not a variant of A/B test {test_id!r}")
    test.stop(_now(), f"stopped by a user{', promoting ' + promote if promote else ''}")
    test.winner = promote
    for variant in test.variants:
        new = (
            "promoted"
            if variant == promote
            else "active"
            if optimizer.status[variant] is TemplateStatus.TESTING
            else None
        )
        if new:
            optimizer.set_status(variant, new)
            app.store.set_template_status(
                ref, variant, new, actor="human", reason=f"A/B test {test_id} stopped"
            )
    save_optimizer(app.store, ref, optimizer)
    save_test(app.store, ref, test)
    emit(_summary(test), fmt, lambda d: console.print(f"stopped A/B test {d['test_id']}"))


def select(
    ctx: typer.Context,
    *,
    segment: str = typer.Option(..., "--segment", "-s", help="The prospect's segment."),
    position: int | None = typer.Option(None, "--position", "-p", help="Sequence step (1-based)."),
    prospect_id: str | None = typer.Option(None, "--prospect-id", help="Keeps A/B test assignment sticky."),
    tenant: str | None = TenantOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Pick the template for the next email to a prospect, and say why.

    Uses the tenant's saved optimizer; without one, it is built from the stored templates and closed deals.

    Example: feedbackloop select --tenant acme --segment mid_market --position 2
    """
    from feedbackloop.engine.optimizer.state import load_or_build_optimizer, save_optimizer

    app = state(ctx)
    ref = app.tenant(tenant)
    optimizer, built = load_or_build_optimizer(app.store, ref)
    if not optimizer.template_ids:
        raise UsageError(f"tenant {ref.name!r} has no templates yet; import or sync some first")
    context: dict[str, Any] = {"segment": segment}
    if position is not None:
        context["position"] = position
    if prospect_id:
        context["prospect_id"] = prospect_id
    choice = optimizer.explain_selection(context, _now())
    save_optimizer(app.store, ref, optimizer)  # the random state and test assignment counts moved on
    data = {
        "template_id": choice.template_id,
        "source": choice.source,
        "reason": choice.reason,
        "built_from_store": built,
    }
    emit(data, fmt, lambda d: console.print(f"{d['template_id']}\n[dim]{d['reason']}[/dim]"))
