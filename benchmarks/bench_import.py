"""CSV import at scale: ~285k deals and 1M messages into a fresh SQLite database (and PostgreSQL).

The files are generated first (vectorised numpy, seeded; not timed). Each import then runs in a
child process so that its peak RSS is its own, not the generator's. Figures: seconds, rows per
second and peak RSS of the first import, and of a re-import of the same files (which must change
nothing). PostgreSQL runs when ``FEEDBACKLOOP_BENCH_DATABASE_URL`` (default: the local test server)
answers. Run: ``.venv/bin/python -m benchmarks bench_import``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

N_DEALS = 285_000
N_MESSAGES = 1_000_000
N_TEMPLATES = 40
SEED = 20261124
PG_URL = os.environ.get(
    "FEEDBACKLOOP_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _times(start: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    stamps = start + seconds.astype("timedelta64[s]")
    return np.datetime_as_string(stamps, unit="s")


def generate(directory: Path, n_deals: int = N_DEALS, n_messages: int = N_MESSAGES) -> dict[str, Path]:
    """Write deals.csv, messages.csv and templates.csv (deterministic for a given size)."""
    rng = np.random.default_rng(SEED)
    start = np.datetime64("2025-01-01T00:00:00")
    deal_ids = np.char.add("D", np.arange(n_deals).astype(str))
    outcome = rng.choice(["won", "lost", "disqualified", "stalled", "meeting", "open"], n_deals,
                         p=[0.25, 0.45, 0.1, 0.05, 0.05, 0.1])  # fmt: skip
    created = rng.integers(0, 300 * 86_400, n_deals)
    closed = created + rng.integers(86_400, 90 * 86_400, n_deals)
    is_closed = np.isin(outcome, ["won", "lost", "disqualified"])
    lost = outcome == "lost"
    deals = pd.DataFrame(
        {
            "deal_id": deal_ids,
            "outcome": outcome,
            "amount": np.round(rng.lognormal(9, 1, n_deals), 2),
            "currency": "EUR",
            "created_at": _times(start, created),
            "closed_at": np.where(is_closed, _times(start, closed), ""),
            "segment": rng.choice(["smb", "mid_market", "enterprise"], n_deals),
            "industry": rng.choice(["retail", "saas", "finance, banking", "health"], n_deals),
            "loss_reason": np.where(
                lost, rng.choice(["price", "timing", 'no decision, "later"'], n_deals), ""
            ),
            "competitor": np.where(lost & (rng.random(n_deals) < 0.3), "Acme", ""),
            "stage_lost": np.where(lost, "demo", ""),
            "sequence_id": np.char.add("S", rng.integers(0, 12, n_deals).astype(str)),
            "owner_id": np.char.add("O", rng.integers(0, 50, n_deals).astype(str)),
        }
    )
    of_deal = rng.integers(0, n_deals, n_messages)
    flags = rng.random((n_messages, 3))
    known = rng.random(n_messages) < 0.9
    sentiment = np.round(rng.uniform(-1, 1, n_messages), 3).astype(str)
    messages = pd.DataFrame(
        {
            "message_id": np.char.add("M", np.arange(n_messages).astype(str)),
            "deal_id": deal_ids[of_deal],
            "template_id": np.where(
                rng.random(n_messages) < 0.95,
                np.char.add("T", rng.integers(0, N_TEMPLATES, n_messages).astype(str)),
                "",
            ),
            "sequence_id": deals["sequence_id"].to_numpy()[of_deal],
            "position": rng.integers(1, 7, n_messages),
            "channel": "email",
            "sent_at": _times(start, created[of_deal] + rng.integers(0, 40 * 86_400, n_messages)),
            "opened": np.where(known, (flags[:, 0] < 0.5).astype(int).astype(str), ""),
            "clicked": np.where(known, (flags[:, 1] < 0.1).astype(int).astype(str), ""),
            "replied": np.where(known, np.where(flags[:, 2] < 0.05, "true", "false"), ""),
            "response_sentiment": np.where(flags[:, 2] < 0.05, sentiment, ""),
        }
    )
    templates = pd.DataFrame(
        {
            "template_id": [f"T{i}" for i in range(N_TEMPLATES)],
            "name": [f"Template {i}" for i in range(N_TEMPLATES)],
            "subject": [f"Quick question, {{first_name}} ({i})" for i in range(N_TEMPLATES)],
            "body": [f"Hi {{first_name}},\nline two of template {i}." for i in range(N_TEMPLATES)],
        }
    )
    paths = {name: directory / f"{name}.csv" for name in ("deals", "messages", "templates")}
    deals.to_csv(paths["deals"], index=False)
    messages.to_csv(paths["messages"], index=False)
    templates.to_csv(paths["templates"], index=False)
    return paths


def run_import(directory: str, url: str) -> None:
    """Child process: import the files twice into ``url`` and print the figures as JSON."""
    from feedbackloop.connectors.csvfiles import import_csv
    from feedbackloop.store import Database, Store

    db = Database(url)
    db.ensure_schema()
    store = Store(db)
    folder = Path(directory)
    results = []
    for _ in range(2):
        started, cpu = time.perf_counter(), time.process_time()
        report = import_csv(
            store,
            "bench",
            deals=folder / "deals.csv",
            messages=folder / "messages.csv",
            templates=folder / "templates.csv",
        )
        seconds = time.perf_counter() - started
        results.append(
            {
                "seconds": seconds,
                "cpu_seconds": time.process_time() - cpu,
                "deals": report.deals.imported,
                "messages": report.messages.imported,
                "changed": report.deals.changed + report.messages.changed + report.templates.changed,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    db.dispose()
    print(json.dumps(results))


def _child(*args: str) -> str:
    """Run this module in a fresh process; returns its last output line.

    Linux carries a parent's ru_maxrss into an exec'd child, so the parent stays small: generation
    runs in a child of its own too.
    """
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_import", *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def _imports(directory: Path, url: str) -> list[dict[str, float]]:
    result: list[dict[str, float]] = json.loads(_child("--import", str(directory), url))
    return result


def _report(label: str, runs: list[dict[str, float]]) -> None:
    for name, run in zip(("first import", "re-import"), runs, strict=True):
        rows = run["deals"] + run["messages"]
        print(
            f"{label:<10} {name:<12} {run['seconds']:6.1f} s (cpu {run['cpu_seconds']:5.1f} s)  "
            f"{rows / run['seconds']:>9,.0f} rows/s  changed {int(run['changed']):>9,}  "
            f"peak RSS {run['peak_rss_mb']:,.0f} MB"
        )


def _postgres_schema() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        schema = f"fl_bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        return schema
    except Exception as exc:  # no server, no driver: the PostgreSQL figure is optional
        print(f"PostgreSQL skipped: {exc.__class__.__name__}")
        return None


def _drop_schema(schema: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="fl-bench-import-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        _child("--generate", str(directory))
        paths = [directory / f"{name}.csv" for name in ("deals", "messages", "templates")]
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in paths)
        took = time.perf_counter() - started
        print(f"generated {N_DEALS:,} deals and {N_MESSAGES:,} messages in {took:.1f} s ({sizes})")
        _report("SQLite", _imports(directory, f"sqlite:///{directory / 'bench.db'}"))
        schema = _postgres_schema()
        if schema:
            url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            try:
                _report("PostgreSQL", _imports(directory, url.render_as_string(hide_password=False)))
            finally:
                _drop_schema(schema)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--import"]:
        run_import(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--generate"]:
        generate(Path(sys.argv[2]))
        print("ok")
    else:
        main()
