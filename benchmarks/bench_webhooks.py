"""Webhook load: signed HubSpot batches of 100 at a fixed rate against `feedbackloop serve` (waitress).

Starts ``feedbackloop serve`` (web + inbox worker + scheduler) in a subprocess on loopback with its own
SQLite database, sends ``RATE`` events per second for ``SECONDS`` seconds as batches of 100 on a fixed
schedule (open loop: a slow answer does not slow the sender down), and reports the time to answer
(p50/p95/p99/max), then waits until the worker has processed every stored event.

Environment knobs: BENCH_RATE (events/s, default 1000), BENCH_SECONDS (default 30), BENCH_SPLIT=1 to run
``serve --no-worker`` and ``feedbackloop worker`` as two processes instead of one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import sqlalchemy as sa

from feedbackloop.webhooks.signature import sign_v3

SECRET = "bench-secret"
PORTAL = 777


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batch(start: int, size: int) -> list[dict[str, object]]:
    return [
        {
            "eventId": start + i,
            "subscriptionId": 2_100_002,
            "portalId": PORTAL,
            "appId": 1,
            "occurredAt": 1_780_000_000_000 + start + i,
            "subscriptionType": "deal.propertyChange",
            "attemptNumber": 0,
            "objectId": 10_000_000 + start + i,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "changeSource": "CRM_UI",
            "sourceId": "userId:1",
        }
        for i in range(size)
    ]


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def main() -> None:
    rate = int(os.environ.get("BENCH_RATE", "1000"))
    seconds = int(os.environ.get("BENCH_SECONDS", "30"))
    batch = 100
    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="fl-bench-webhooks-"))
    url = f"http://127.0.0.1:{port}/webhooks/hubspot"
    env = {
        **os.environ,
        "FEEDBACKLOOP_HOME": str(home),
        "FEEDBACKLOOP_HUBSPOT_CLIENT_SECRET": SECRET,
        "FEEDBACKLOOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    cli = [sys.executable, "-m", "feedbackloop.cli"]
    subprocess.run([*cli, "tenants", "--help"], env=env, check=True, capture_output=True)
    from feedbackloop.config.settings import load_settings
    from feedbackloop.store import open_store

    os.environ["FEEDBACKLOOP_HOME"] = str(home)
    store = open_store(load_settings(home=home))
    store.create_tenant(
        "bench", provider="hubspot", external_id=str(PORTAL), settings={"sync_on_webhook": False}
    )
    split = os.environ.get("BENCH_SPLIT") == "1"
    serve = [*cli, "serve", "--port", str(port), *(["--no-worker"] if split else [])]
    server = subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([*cli, "worker"], env=env, stderr=subprocess.DEVNULL) if split else None
    mode = "serve --no-worker + worker (two processes)" if split else "serve (web + worker + scheduler)"
    print(f"mode: {mode}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        print(f"machine: {_load()}")
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        local = threading.local()

        def send(index: int, due: float) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            body = json.dumps(_batch(index * batch, batch)).encode()
            while (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            ts = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "X-HubSpot-Request-Timestamp": ts,
                "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts),
            }
            started = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=10)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        n_batches = rate * seconds // batch
        interval = batch / rate
        t0 = time.perf_counter() + 0.5
        with ThreadPoolExecutor(max_workers=16) as pool:
            for i in range(n_batches):
                pool.submit(send, i, t0 + i * interval)
        sent_for = time.perf_counter() - t0
        ms = np.array(latencies) * 1000
        print(
            f"sent {n_batches * batch} events in {n_batches} signed batches of {batch} over {sent_for:.1f} s "
            f"(target {rate}/s); statuses {statuses}"
        )
        print(
            f"time to answer: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, "
            f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms"
        )
        started = time.perf_counter()
        expected = n_batches * batch
        done = 0
        while time.perf_counter() - started < 600:
            with store.db.engine.connect() as conn:
                done = int(
                    conn.execute(sa.text("SELECT count(*) FROM webhook_inbox WHERE status = 'done'")).scalar()
                    or 0
                )
                total = int(conn.execute(sa.text("SELECT count(*) FROM webhook_inbox")).scalar() or 0)
            if done >= expected:
                break
            time.sleep(1)
        print(
            f"stored {total} events; worker processed {done}/{expected} "
            f"{time.perf_counter() - started:.1f} s after the last request; machine: {_load()}"
        )
    finally:
        for proc in (server, worker):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        store.db.dispose()


if __name__ == "__main__":
    main()
