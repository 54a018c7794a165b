"""Salesforce sandbox throughput over HTTPS on loopback (target: at least 200 requests/s).

The server runs in its own process (as under ``feedbackloop sandbox``), so client and server do not share
a GIL. Measured: small SOQL queries through simple-salesforce with one keep-alive session, then from 4
threads; paging through every EmailMessage with batchSize=2000; mapping the world onto sObjects.
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from simple_salesforce.api import Salesforce

from feedbackloop.sandbox.salesforce import start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.objects import build_world_tables
from feedbackloop.sandbox.world import WorldConfig, generate_world

DEALS = 2000
REQUESTS = 400
THREADS = 4


def _serve(pipe: Connection, stop: Any) -> None:
    world = generate_world(WorldConfig(seed=1, deals=DEALS))
    with tempfile.TemporaryDirectory() as directory:
        server = start_salesforce(world, directory, lock=threading.RLock())
        pipe.send((server.url, server.ca_file))
        stop.wait()
        server.stop()


def _client(url: str, ca_file: str) -> Any:
    return Salesforce(
        instance_url=url, session_id="sandbox-token", version="60.0", session=trusting_session(ca_file)
    )


def _rate(count: int, started: float) -> str:
    return f"{count / (time.perf_counter() - started):.0f} requests/s"


def main() -> None:
    world = generate_world(WorldConfig(seed=1, deals=DEALS))
    started = time.perf_counter()
    build_world_tables(world)
    print(f"map a {DEALS}-deal world onto sObjects: {time.perf_counter() - started:.2f} s")
    context = mp.get_context("fork")
    ours, theirs = context.Pipe()
    stop = context.Event()
    process = context.Process(target=_serve, args=(theirs, stop), daemon=True)
    process.start()
    try:
        url, ca_file = ours.recv()
        sf = _client(url, ca_file)
        opp = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
        soql = f"SELECT Id, StageName, Account.Industry FROM Opportunity WHERE Id = '{opp}'"
        started = time.perf_counter()
        for _ in range(REQUESTS):
            sf.query(soql)
        print(f"sequential small queries over HTTPS (keep-alive): {_rate(REQUESTS, started)}")

        def worker(_: int) -> None:
            client = _client(url, ca_file)
            for _ in range(REQUESTS // THREADS):
                client.query(soql)

        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(worker, range(THREADS)))
        print(f"{THREADS} client threads, one session each: {_rate(REQUESTS, started)}")
        started = time.perf_counter()
        headers = {"Sforce-Query-Options": "batchSize=2000"}
        emails = sf.query_all_iter("SELECT Id, Subject, MessageDate FROM EmailMessage", headers=headers)
        count = sum(1 for _ in emails)
        print(f"page through {count} EmailMessages (batchSize=2000): {time.perf_counter() - started:.2f} s")
    finally:
        stop.set()
        process.join(timeout=10)


if __name__ == "__main__":
    main()
