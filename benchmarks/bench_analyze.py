"""`feedbackloop analyze` over a store holding ~100k and ~1M messages: wall time, CPU time, peak memory.

Each size: a simulated world is written as CSV and imported into a fresh SQLite store (not timed),
then `feedbackloop analyze --format json` runs as its own process, as a user would run it, ``RUNS``
times (min, median and max wall time; the machine is shared and wall time follows its load). Wall
time, CPU time (user + system, with the store reader process it starts) and peak RSS include
starting Python and loading the store. The command runs under a small launcher process so that its
peak RSS is its own (see ``LAUNCHER``); the reader process (`python -m feedbackloop.sqlite_arrow`,
alive only while the tables load) is also run alone to give its own peak. Issue bar: 1M messages
(about 285k deals) in <= 10 s wall and <= 1.5 GiB.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feedbackloop.analysis_input import ENGINE_TABLES, SHARED_KEY
from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.csvfiles import import_csv
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import open_store

#: deals created before `now`; about 4.1 messages per deal in the default world
SIZES = {"100k messages": 24_400, "1M messages": 244_000}
#: runs of the command per size
RUNS = 5

#: Started by this (large) process, it runs the command as its own child and prints that child's peak
#: RSS (KiB) and CPU seconds to stderr. Linux carries a process's RSS high-water mark across exec, so a
#: child forked straight from here would report this process's size (~2 GiB after building the 1M world)
#: as its own peak; a grandchild forked from the small launcher reports only its own memory.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('child', u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _measure(deals: int, workdir: Path) -> dict[str, float]:
    """Build and import a world of ``deals`` deals, then time the command ``RUNS`` times."""
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
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "feedbackloop.cli", "analyze", "--tenant", "bench", "--as-of", as_of]
    walls, cpus, peaks = [], [], []
    result: dict[str, object] = {}
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command, "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
        _, peak, cpu = done.stderr.strip().splitlines()[-1].split()
        cpus.append(float(cpu))
        peaks.append(int(peak) / 1024)
        result = json.loads(done.stdout)
    reader = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "feedbackloop.sqlite_arrow",
         str(home / "feedbackloop.db"), "name:bench", json.dumps([list(t) for t in ENGINE_TABLES]),
         SHARED_KEY],
        env=env,
        capture_output=True,
        check=True,
    )  # fmt: skip
    reader_peak = int(reader.stderr.decode().strip().splitlines()[-1].split()[1]) / 1024
    return {
        "deals": report.deals.imported,
        "messages": report.messages.imported,
        "wall_min": min(walls),
        "wall_median": statistics.median(walls),
        "wall_max": max(walls),
        "cpu_median": statistics.median(cpus),
        "load": max(load, os.getloadavg()[0]),
        "peak_rss_mib": max(peaks),
        "reader_peak_rss_mib": reader_peak,
        "templates": len(result["templates"]),  # type: ignore[arg-type]
    }


def main() -> None:
    load = os.getloadavg()[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"{when}; machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, deals in SIZES.items():
            m = _measure(deals, Path(tmp))
            print(
                f"{label}: {m['deals']:,} deals, {m['messages']:,} messages -> analyze ({RUNS} runs) "
                f"wall min {m['wall_min']:.1f} s, median {m['wall_median']:.1f} s, "
                f"max {m['wall_max']:.1f} s; "
                f"CPU median {m['cpu_median']:.1f} s; peak RSS {m['peak_rss_mib']:.0f} MiB (reader process "
                f"{m['reader_peak_rss_mib']:.0f} MiB); load average up to {m['load']:.1f}; "
                f"{m['templates']:.0f} templates",
                flush=True,
            )


if __name__ == "__main__":
    main()
