"""A Streamlit server for the load benchmarks, and the memory of its process tree from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.browser import serving

ROOT = Path(__file__).resolve().parents[1]
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def start_server(port: int, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port with extra environment and streamlit flags.

    Like tests/browser.py's start_app, but the server's log is kept in a named file
    (`process.log_path`), and the server leads a process group of its own, so `stop_server` can
    end whatever it left behind (Ray's agents outlive it).
    """
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", *flags]
    log = tempfile.NamedTemporaryFile(prefix="dlbuilder-bench-server-", suffix=".log", delete=False)
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    process.log_path = log.name
    if serving(process, port, 90):
        return process
    process.kill()
    raise RuntimeError(f"streamlit did not start; its log: {log.name}\n{Path(log.name).read_text()[-2000:]}")


def server_metrics(url: str) -> dict[str, float]:
    """Streamlit's /_stcore/metrics (OpenMetrics text) as {"name{labels}": value}, e.g. "active_sessions"."""
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#"):
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server, then anything of its process group still running (workers, Ray's agents)."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)  # the group is the server's own (start_new_session)
        except ProcessLookupError:
            return
        time.sleep(2)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat split after the command name (which may hold spaces): field 3 is at [0]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the forkserver, the training workers, multiprocessing's tracker)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 once it is gone)."""
    fields = _stat_fields(pid)
    return int(fields[21]) * PAGE_SIZE if fields else 0


def pss_bytes(pid: int) -> int:
    """Proportional memory of one process: pages shared with others (the forkserver's torch) count
    by their share, so the sum over workers is what they really take (0 once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in lines if line.startswith("Pss:")), 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def cpu_wait_seconds(pid: int) -> dict[int, float]:
    """Each thread's time spent runnable but waiting for a CPU so far (/proc/<pid>/task/*/schedstat).

    The difference between two looks (threads that ended in between are missed) says how much of
    the time the server wanted a core and did not get one: the machine, not the server, was the limit.
    """
    waits = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return waits
    for tid in tasks:
        try:
            waits[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return waits


def cpu_wait_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(wait - before.get(tid, 0.0) for tid, wait in after.items())


@dataclass(frozen=True)
class MemorySample:
    """One look at the server's process tree."""

    time: float  # monotonic
    server: int  # bytes, the streamlit process itself
    workers: int  # bytes, RSS of all its descendants together (shared pages counted in each)
    workers_pss: int  # bytes, their proportional set size together
    worker_count: int
    threads: int  # of the server process


def sample_memory(pid: int) -> MemorySample:
    below = descendants(pid)
    return MemorySample(time.monotonic(), rss_bytes(pid), sum(rss_bytes(p) for p in below),
                        sum(pss_bytes(p) for p in below), len(below), thread_count(pid))


def thread_count(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[17]) if fields else 0
