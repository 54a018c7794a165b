"""The `feedbackloop` command line: Typer on click, rich for tables and progress.

Errors are one line on stderr and exit 1; bad usage exits 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import logging
import sys
import traceback

import typer

from feedbackloop import __version__
from feedbackloop.commands.admin import config_app, db_app, tenants_app
from feedbackloop.commands.common import AppState, err_console
from feedbackloop.commands.connect_hubspot import connect_hubspot
from feedbackloop.commands.connect_salesforce import connect_salesforce
from feedbackloop.commands.connectors import check, connect_app, install, sync, writeback
from feedbackloop.commands.engine import analyze, report, templates_app
from feedbackloop.commands.importing import import_command
from feedbackloop.commands.optimize import select, tests_app
from feedbackloop.commands.sandbox import sandbox
from feedbackloop.commands.service import apikeys_app, outbound_url, serve, worker
from feedbackloop.errors import FeedbackloopError, UsageError

__all__ = ["app", "main"]

app = typer.Typer(
    name="feedbackloop",
    help="Learn which email templates win deals, and write the answer back into HubSpot and Salesforce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode="rich",
)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(tests_app, name="tests")
app.command("select")(select)

connect_app.command("salesforce")(connect_salesforce)
connect_app.command("hubspot")(connect_hubspot)
connect_app.command("salesforce")(connect_salesforce)
app.add_typer(connect_app, name="connect")
app.command("install")(install)
app.command("check")(check)
app.command("sync")(sync)
app.command("writeback")(writeback)
app.command("analyze")(analyze)
app.command("report")(report)
app.add_typer(templates_app, name="templates")
app.command("import")(import_command)
app.command("serve")(serve)
app.command("worker")(worker)
app.add_typer(apikeys_app, name="apikeys")
app.command("outbound-url")(outbound_url)
app.command("sandbox")(sandbox)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"feedbackloop {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(  # noqa: ARG001 (handled eagerly by its callback)
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """feedbackloop: closed-won and closed-lost deals in, template scores and flags out.

    Quick start: feedbackloop import --deals deals.csv --messages messages.csv, then feedbackloop analyze.
    """
    ctx.obj = AppState(debug=debug)
    ctx.call_on_close(ctx.obj.close)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Standalone mode: Typer itself answers --help and bad usage (exit 2); SystemExit passes through.
        app(args=args, prog_name="feedbackloop")
    except UsageError as exc:
        _fail(exc, debug, code=2)
    except FeedbackloopError as exc:
        _fail(exc, debug, code=1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # the last line of defence: no traceback is the user's error message
        if debug:
            traceback.print_exc()
        err_console.print(
            f"[red]error:[/red] unexpected {exc.__class__.__name__}: {exc} (run with --debug for details)",
            markup=True,
            highlight=False,
        )
        raise SystemExit(1) from None


def _fail(exc: FeedbackloopError, debug: bool, code: int) -> None:
    if debug:
        traceback.print_exc()
    err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
