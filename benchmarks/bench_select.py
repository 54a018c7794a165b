"""`POST /api/v1/select` latency on loopback against `feedbackloop serve` (waitress): p50/p99.

A tenant with 100 templates and an API key; ``N`` sequential selections over one keep-alive
connection, cycling through 3 segments and 5 sequence positions. Issue bar: p99 <= 10 ms.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

N = int(os.environ.get("BENCH_N", "2000"))
SEGMENTS = ("smb", "mid_market", "enterprise")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fl-bench-select-"))
    os.environ["FEEDBACKLOOP_HOME"] = str(home)
    from feedbackloop.config.settings import load_settings
    from feedbackloop.store import open_store
    from feedbackloop.store.models import TemplateRow
    from feedbackloop.webhooks.apikeys import create_key

    store = open_store(load_settings(home=home))
    tenant = store.create_tenant("bench", provider="hubspot", external_id="1")
    store.upsert(TemplateRow, tenant, [{"template_id": f"T{i:03d}", "status": "active"} for i in range(100)])
    key = create_key(store, tenant, "bench")
    store.db.dispose()
    port = _free_port()
    env = {**os.environ, "FEEDBACKLOOP_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "feedbackloop.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(50):  # warm up: state loaded, connection open
            session.post(
                f"{base}/api/v1/select", json={"context": {"segment": "smb"}}, headers=headers, timeout=10
            )
        latencies = []
        for i in range(N):
            context = {"segment": SEGMENTS[i % 3], "position": 1 + i % 5, "prospect_id": f"p{i}"}
            started = time.perf_counter()
            response = session.post(
                f"{base}/api/v1/select", json={"context": context}, headers=headers, timeout=10
            )
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
        ms = np.array(latencies) * 1000
        load = os.getloadavg()[0]
        print(
            f"/api/v1/select x{N} (100 templates, 3 segments, 5 positions), load average {load:.1f} on "
            f"{os.cpu_count()} CPUs: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, "
            f"max {ms.max():.1f} ms"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
