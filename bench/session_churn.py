"""The "200 sessions opened and closed" check: does the server give its memory back?

Part of bench/class_load.py (`--churn 200`). The server's memory is read before, right after the
sessions closed, and once Streamlit has dropped them (server.disconnectedSessionTTL, set short for
the bench) and the jobs they started have stopped for want of a heartbeat.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.class_students import visit
from bench.st_server import MB, MemorySample, sample_memory, server_metrics, start_server, stop_server
from bench.timing import print_table
from tests.browser import free_port

HEARTBEAT_SECONDS = 30  # dlbuilder.ui.jobs.HEARTBEAT_TIMEOUT: a job without a live page stops then
STOP_GRACE_SECONDS = 5  # a worker that does not stop in time is terminated after this
RSS_TARGET = 1.10  # the server's RSS once the sessions are dropped, over its RSS before


@dataclass(frozen=True)
class Look:
    """The server at one moment of the churn check."""

    memory: MemorySample
    connected: int  # Streamlit's active_sessions: sessions with an open websocket
    connects: int
    disconnects: int


def look(url: str, pid: int) -> Look:
    metrics = server_metrics(url)
    return Look(sample_memory(pid), int(metrics.get("active_sessions", -1)),
                int(metrics.get('session_events_total{type="connect"}', -1)),
                int(metrics.get('session_events_total{type="disconnect"}', -1)))


async def run_churn(env: dict[str, str], flags: tuple[str, ...], ttl: int, code: str, count: int,
                    concurrency: int) -> dict[str, Look]:
    """Open and close `count` Train pages (every 10th presses Start); the server before, after, dropped."""
    port = free_port()
    server = start_server(port, env, flags)
    url, query = f"http://127.0.0.1:{port}", f"g={code}"
    settle = ttl + HEARTBEAT_SECONDS + STOP_GRACE_SECONDS + 10
    looks: dict[str, Look] = {}
    try:
        # Warm-up: every module a visit and a job import is loaded before the first look.
        await asyncio.gather(visit(url, "train", query, press_start=True), visit(url), visit(url, "train", query))
        await settled(url, settle, ttl)
        looks["before"] = look(url, server.pid)
        gate, failures = asyncio.Semaphore(concurrency), []

        async def one(index: int) -> None:
            async with gate:
                try:
                    await visit(url, "train", query, press_start=index % 10 == 0)
                except Exception as error:  # noqa: BLE001 (counted and shown, the check goes on)
                    failures.append(f"{type(error).__name__}: {error}"[:120])

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        print(f"  {count} sessions opened and closed in {time.monotonic() - started:.0f} s ({concurrency} at a "
              f"time, every 10th pressed Start); failures: {len(failures)}"
              + (f", e.g. {failures[0]}" if failures else ""))
        looks["after closing"] = look(url, server.pid)
        await settled(url, settle, ttl)
        looks["dropped"] = look(url, server.pid)
        return looks
    finally:
        stop_server(server)


async def settled(url: str, settle: float, ttl: int) -> None:
    """Wait for the session TTL and the job heartbeat to run out, then one visit to make Streamlit reap.

    Streamlit drops expired disconnected sessions lazily, on the next write to its session store
    (a session disconnecting), so a short visit after the wait stands in for the next student.
    """
    print(f"  waiting {settle:.0f} s (session TTL {ttl} s + job heartbeat {HEARTBEAT_SECONDS} s + stop grace)")
    await asyncio.sleep(settle)
    await visit(url)
    await asyncio.sleep(3)


def report_churn(looks: dict[str, Look]) -> None:
    rows = [[name, f"{m.server / MB:.0f}", str(m.threads),
             f"{m.workers / MB:.0f} / {m.workers_pss / MB:.0f} ({m.worker_count})",
             f"{seen.connected} ({seen.connects} / {seen.disconnects})"]
            for name, seen in looks.items() for m in [seen.memory]]
    print_table(["moment", "server RSS MB", "server threads", "workers RSS / PSS MB (processes)",
                 "connected sessions (connects / disconnects so far)"], rows)
    ratio = looks["dropped"].memory.server / looks["before"].memory.server
    print(f"server RSS dropped/before = {ratio:.2f}: {'PASS' if ratio <= RSS_TARGET else 'FAIL'} "
          f"(target <= {RSS_TARGET:.2f})")
