"""`feedbackloop analyze` over a store holding ~100k and ~1M messages: wall time, CPU time, peak memory.

Each size: a simulated world is written as CSV and imported into a fresh SQLite store (not timed),
then `feedbackloop analyze --format json` runs as its own process, as a user would run it, ``RUNS``
times (min, median and max wall time; the machine is shared and wall time follows its load). Wall
time, CPU time (user + system, with the store reader process it starts) and peak RSS include
starting Python and loading the store. The command runs under a small launcher process so that its
peak RSS is its own (see ``LAUNCHER``); the reader process (`python -m feedbackloop.sqlite_arrow`,
alive only while the tables load) is also run alone to give its own peak, and one more (untimed) run
samples the summed RSS of the whole process tree (``TREE_SAMPLER``): the memory the command needs at
its worst moment, reader included. Issue bar: 1M messages
(about 285k deals) in <= 10 s wall and <= 1.5 GiB; the default world has ~4.1 messages per deal, so
1M messages are 244k deals and 285k deals are 1.17M messages: both are measured.
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

#: deals created before `now`; about 4.1 messages per deal in the default world. The issue's bar names
#: "1M messages / ~285k deals", which this world cannot give at once: both readings are measured.
SIZES = {"100k messages": 24_400, "1M messages": 244_000, "285k deals": 285_000}
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
#: Runs the command once more (not timed) and samples the summed RSS of it and every process under it
#: every 5 ms: the peak of the whole tree (command and reader process together), printed to stderr.
TREE_SAMPLER = (
    "import os, subprocess, sys, time\n"
    "def rss(pid):\n"
    "    try:\n"
    "        with open(f'/proc/{pid}/status') as f:\n"
    "            return next((int(l.split()[1]) for l in f if l.startswith('VmRSS:')), 0)\n"
    "    except OSError:\n"
    "        return 0\n"
    "def children(pid):\n"
    "    out = []\n"
    "    try:\n"
    "        for tid in os.listdir(f'/proc/{pid}/task'):\n"
    "            with open(f'/proc/{pid}/task/{tid}/children') as f:\n"
    "                out += [int(x) for x in f.read().split()]\n"
    "    except OSError:\n"
    "        pass\n"
    "    return out\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "peak = 0\n"
    "while p.poll() is None:\n"
    "    pids, total = [p.pid], 0\n"
    "    while pids:\n"
    "        q = pids.pop()\n"
    "        total += rss(q)\n"
    "        pids += children(q)\n"
    "    peak = max(peak, total)\n"
    "    time.sleep(0.005)\n"
    "print('tree', peak, file=sys.stderr)\n"
    "sys.exit(p.returncode)\n"
)


def _run(script: str, args: list[str], env: dict[str, str]) -> tuple[bytes, list[str]]:
    """Run ``args`` under ``script`` (``LAUNCHER`` or ``TREE_SAMPLER``): its stdout, and the fields of the
    last line the script printed to stderr."""
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, check=True)
    return done.stdout, done.stderr.decode().strip().splitlines()[-1].split()


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
        out, (_, peak, cpu) = _run(LAUNCHER, [*command, "--format", "json"], env)
        walls.append(time.perf_counter() - start)
        cpus.append(float(cpu))
        peaks.append(int(peak) / 1024)
        result = json.loads(out)
    reader_args = [
        sys.executable, "-m", "feedbackloop.sqlite_arrow", str(home / "feedbackloop.db"), "name:bench",
        json.dumps([list(t) for t in ENGINE_TABLES]), SHARED_KEY,
    ]  # fmt: skip
    reader_peak = int(_run(LAUNCHER, reader_args, env)[1][1]) / 1024
    tree_peak = int(_run(TREE_SAMPLER, [*command, "--format", "json"], env)[1][1]) / 1024
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
        "tree_peak_rss_mib": tree_peak,
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
                f"{m['reader_peak_rss_mib']:.0f} MiB alone; both together, sampled: "
                f"{m['tree_peak_rss_mib']:.0f} MiB); load average up to {m['load']:.1f}; "
                f"{m['templates']:.0f} templates",
                flush=True,
            )


if __name__ == "__main__":
    main()
