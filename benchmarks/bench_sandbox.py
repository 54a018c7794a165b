"""Sandbox CRMs: time until `feedbackloop sandbox` answers with the default world, and HubSpot throughput.

The server runs as the real command in its own process (as a user runs it); the client is a thread pool
with keep-alive connections on loopback. Rate limits are lifted through the admin API for the throughput
part (HubSpot's own 110 / 10 s would cap any client at 11 requests/s).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3

__all__ = ["main"]

THREADS = 8
SECONDS = 5.0
HEADERS = {"Authorization": "Bearer sandbox-token", "Content-Type": "application/json"}


def _start() -> tuple[subprocess.Popen[str], str, float]:
    command = [
        sys.executable,
        "-m",
        "feedbackloop.cli",
        "sandbox",
        "--hubspot-port",
        "0",
        "--salesforce-port",
        "0",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        match = re.search(r"HubSpot\s+(http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
        if "Ctrl-C" in line:
            break
    if url is None:
        raise SystemExit("feedbackloop sandbox did not start")
    http = urllib3.PoolManager()
    while http.request("GET", url + "/crm/v3/pipelines/deals", headers=HEADERS).status != 200:
        time.sleep(0.05)
    return process, url, time.perf_counter() - started


def _load(url: str, name: str, method: str, path: str, body: Any = None) -> float:
    http = urllib3.PoolManager(maxsize=THREADS)
    payload = json.dumps(body).encode() if body is not None else None
    deadline = time.perf_counter() + SECONDS

    def worker() -> int:
        done = 0
        while time.perf_counter() < deadline:
            response = http.request(method, url + path, body=payload, headers=HEADERS)
            if response.status != 200:
                raise RuntimeError(f"{name}: HTTP {response.status} {response.data[:200]!r}")
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        total = sum(pool.map(lambda _: worker(), range(THREADS)))
    rate = total / (time.perf_counter() - started)
    print(f"  {name:<38} {rate:8.0f} requests/s  ({total} in {SECONDS:.0f} s, {THREADS} threads)")
    return rate


def main() -> None:
    process, url, ready = _start()
    try:
        print(f"  feedbackloop sandbox (default world, 2000 deals, both CRMs): answering after {ready:.2f} s")
        http = urllib3.PoolManager()
        lifted = json.dumps({"burst_limit": 10**9, "search_limit": 10**9}).encode()
        http.request("POST", url + "/_sandbox/limits", body=lifted, headers=HEADERS)
        page = json.loads(http.request("GET", url + "/crm/v3/objects/deals?limit=1", headers=HEADERS).data)
        deal_id = page["results"][0]["id"]
        _load(url, "GET /crm/v3/objects/deals/{id}", "GET", f"/crm/v3/objects/deals/{deal_id}")
        _load(url, "GET /crm/v3/objects/deals?limit=100", "GET", "/crm/v3/objects/deals?limit=100")
        closed = {"propertyName": "hs_is_closed", "operator": "EQ", "value": "true"}
        search = {
            "filterGroups": [{"filters": [closed]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 200,
        }
        _load(url, "POST /crm/v3/objects/deals/search (200)", "POST", "/crm/v3/objects/deals/search", search)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)


if __name__ == "__main__":
    main()
