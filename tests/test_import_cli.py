"""`feedbackloop import`: exit codes, one-line errors, JSON and table output (on every store backend)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from feedbackloop.cli import main
from feedbackloop.config.settings import Settings
from feedbackloop.store import open_store

pytestmark = pytest.mark.store

DEALS = "deal_id,outcome,closed_at,amount\nD1,won,2026-02-01,100\nD2,open,,\n"
MESSAGES = (
    "message_id,deal_id,template_id,sent_at,opened\nM1,D1,T1,2026-01-01T10:00:00,1\nM2,D2,,2026-01-02,\n"
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    deals, messages = tmp_path / "deals.csv", tmp_path / "messages.csv"
    deals.write_text(DEALS)
    messages.write_text(MESSAGES)
    return {"deals": deals, "messages": messages}


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_json_summary(settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys, "import", "--deals", files["deals"], "--messages", files["messages"], "-f", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {
        "tenant",
        "deals",
        "messages",
        "templates",
        "templates_from_messages",
        "warnings",
        "rejects_file",
        "duration_s",
    }
    assert data["tenant"] == "default"
    assert data["deals"] == {"read": 2, "imported": 2, "rejected": 0, "changed": 2}
    assert data["messages"]["imported"] == 2
    assert data["templates_from_messages"] == 1
    assert data["rejects_file"] is None
    assert isinstance(data["duration_s"], float)


def test_table_summary_and_warnings(
    settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["deals"].write_text(DEALS.replace("amount\n", "amount,color\n", 1))
    code, out, err = cli(capsys, "import", "--deals", files["deals"], "--tenant", "acme")
    assert code == 0, err
    assert "Imported into tenant 'acme'" in out
    assert "ignored unknown column(s): color" in err


def test_invalid_rows_exit_1_with_located_errors(
    settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["deals"].write_text(DEALS + "D3,lost,,\n")
    code, out, err = cli(capsys, "import", "--deals", files["deals"], "--messages", files["messages"])
    assert code == 1
    assert out == ""
    assert f"{files['deals']}:4: closed_at: required when outcome is lost" in err
    assert "nothing was imported" in err
    assert "Traceback" not in err
    store = open_store(settings)
    assert store.list_tenants() == []
    store.db.dispose()


def test_skip_invalid_writes_rejects(
    settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files["messages"].write_text(MESSAGES + "M3,D1,T1,never,\n")
    target = tmp_path / "rejected.csv"
    args: list[str | Path] = [
        "import",
        "--deals",
        files["deals"],
        "--messages",
        files["messages"],
        "--skip-invalid",
    ]
    code, out, err = cli(capsys, *args, "--rejects", target, "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["messages"] == {"read": 3, "imported": 2, "rejected": 1, "changed": 2}
    assert data["rejects_file"] == str(target)
    assert "messages.csv,4,sent_at,'never' is not an ISO 8601 timestamp" in target.read_text()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-files"),
        pytest.param(["--deals", "missing.csv"], id="missing-file"),
        pytest.param(["--deals", "{deals}", "--rejects", "x.csv"], id="rejects-without-skip-invalid"),
        pytest.param(["--deals", "{deals}", "--format", "yaml"], id="bad-format"),
    ],
)
def test_bad_usage_exits_2(
    settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, _, err = cli(capsys, "import", *(a.format(deals=files["deals"]) for a in args))
    assert code == 2
    assert "Traceback" not in err


def test_several_tenants_need_a_choice(
    settings: Settings, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "import", "--deals", files["deals"], "--tenant", "a")[0] == 0
    assert cli(capsys, "import", "--deals", files["deals"], "--tenant", "b")[0] == 0
    code, _, err = cli(capsys, "import", "--deals", files["deals"])
    assert code == 2
    assert "several tenants exist (a, b)" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "import", "--help")
    assert code == 0
    assert "Examples" in out
    assert "--skip-invalid" in out


def test_entry_point_json_is_clean(files: dict[str, Path]) -> None:
    """Through the real entry point: stdout is exactly one JSON document (no progress, no warnings)."""
    files["deals"].write_text(DEALS.replace("amount\n", "amount,color\n", 1))
    result = subprocess.run(
        [sys.executable, "-m", "feedbackloop.cli", "import", "--deals", str(files["deals"]), "-f", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == [f"{files['deals']}: ignored unknown column(s): color"]


def test_progress_bar_tracks_stages() -> None:
    from feedbackloop.commands.importing import _ProgressBar

    bar = _ProgressBar()
    bar.update("reading deals.csv", 0, 0)
    bar.update("writing deals", 5, 10)
    bar.update("writing deals", 10, 10)
    tasks = {t.description: (t.completed, t.total) for t in bar.progress.tasks}
    assert tasks == {"reading deals.csv": (1, 1), "writing deals": (10, 10)}
