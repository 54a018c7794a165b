"""`feedbackloop analyze` over a store holding ~100k and ~1M messages: wall time and peak memory.

Each size: a simulated world is written as CSV and imported into a fresh SQLite store (not timed),
then `feedbackloop analyze --format json` runs as its own process, as a user would run it. Wall time
and the child's peak RSS include starting Python and loading the store. Issue bar: 1M messages
(about 285k deals) in <= 10 s wall and <= 1.5 GiB.
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
from pathlib import Path

from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.csvfiles import import_csv
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import open_store

#: deals created before `now`; about 4.1 messages per deal in the default world
SIZES = {"100k messages": 24_400, "1M messages": 244_000}


def _measure(deals: int, workdir: Path) -> dict[str, float]:
    home = workdir / f"home-{deals}"
    env = {**os.environ, "FEEDBACKLOOP_HOME": str(home)}
    env.pop("FEEDBACKLOOP_DATABASE_URL", None)
    world = generate_world(WorldConfig(seed=1, deals=deals))
    paths = world.to_csv(workdir / f"csv-{deals}")
    os.environ["FEEDBACKLOOP_HOME"] = str(home)
    store = open_store(load_settings(home=home))
    report = import_csv(
        store, "bench", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"]
    )
    store.db.dispose()
    as_of = world.now.date().isoformat()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedbackloop.cli",
            "analyze",
            "--tenant",
            "bench",
            "--as-of",
            as_of,
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(done.stdout)
    return {
        "deals": report.deals.imported,
        "messages": report.messages.imported,
        "wall_s": wall,
        "peak_rss_mib": max(peak, before) / 1024,
        "templates": len(result["templates"]),
    }


def main() -> None:
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, deals in SIZES.items():
            m = _measure(deals, Path(tmp))
            print(
                f"{label}: {m['deals']:,} deals, {m['messages']:,} messages -> "
                f"analyze {m['wall_s']:.1f} s wall, "
                f"peak RSS {m['peak_rss_mib']:.0f} MiB, {m['templates']:.0f} templates",
                flush=True,
            )


if __name__ == "__main__":
    main()
