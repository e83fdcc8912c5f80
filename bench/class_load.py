"""A class on one server: N students open a share link on the Train page, press Start and watch.

Run from the repo root: `.venv/bin/python bench/class_load.py [--students 10 30] [--seconds 60]
[--runner thread|process|ray] [--epochs 10000] [--spread 0] [--churn 200]`. Each student is a
real Streamlit session driven by bench/st_client.py (Streamlit's websocket protocol, no browser),
all from one asyncio process; DLBUILDER_* variables in the environment reach the server.
Then the "200 sessions opened and closed" check: the server's memory before, after, and once
Streamlit has dropped the disconnected sessions and their jobs have stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.class_students import Gate, Student, attend, percentile, rehearse, share_code  # noqa: E402
from bench.session_churn import report_churn, run_churn  # noqa: E402
from bench.st_server import (MB, MemorySample, cpu_seconds, cpu_wait_between, cpu_wait_seconds,  # noqa: E402
                             sample_memory, start_server, stop_server)
from bench.timing import print_table  # noqa: E402
from tests.browser import free_port  # noqa: E402

ACCEPT_TARGET = 2.0  # s from Start to a job start or a queue position, every student
RATE_TARGET = 1.0  # Updates changes per second on every running job's page


def server_options(args) -> tuple[dict[str, str], tuple[str, ...]]:
    env = {"DLBUILDER_RUNNER": args.runner} if args.runner else {}
    return env, ("--server.disconnectedSessionTTL", str(args.ttl))


class Sampler:
    """The server's process tree, once a second, in the background."""

    def __init__(self, pid: int):
        self.pid, self.samples = pid, []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.samples.append(sample_memory(self.pid))
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class ClassResult:
    students: list[Student]
    peak: MemorySample  # the sample with the largest server + workers total
    server_peak: int
    server_cpu: float  # share of one core from the students' arrival to their leaving
    server_wait: float  # s per s the server's threads waited for a core
    client_cpu: float
    load: float  # the machine's 1-minute load average at the end


async def run_class(count: int, args, code: str) -> ClassResult:
    env, flags = server_options(args)
    port = free_port()
    server = start_server(port, env, flags)
    url = f"http://127.0.0.1:{port}"
    sampler = Sampler(server.pid)
    try:
        if not args.cold:
            await rehearse(url)
        students, gate = [Student(i) for i in range(count)], Gate(count)
        rng = random.Random(count)
        delays = [rng.random() for _ in range(count)]
        cpu = (cpu_seconds(server.pid), time.process_time(), time.monotonic(), cpu_wait_seconds(server.pid))
        await asyncio.gather(*(attend(s, url, code, gate, args.spread * d, args.seconds, args.load_timeout)
                               for s, d in zip(students, delays)))
        wall = time.monotonic() - cpu[2]
        server_cpu, client_cpu = (cpu_seconds(server.pid) - cpu[0]) / wall, (time.process_time() - cpu[1]) / wall
        server_wait = cpu_wait_between(cpu[3], cpu_wait_seconds(server.pid)) / wall
        peak = max(sampler.samples, key=lambda m: m.server + m.workers_pss)
        return ClassResult(students, peak, max(m.server for m in sampler.samples), server_cpu, server_wait,
                           client_cpu, os.getloadavg()[0])
    finally:
        await sampler.stop()
        stop_server(server)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pair(values: list[float]) -> str:
    return f"{fmt(percentile(values, 0.5))} / {fmt(percentile(values, 0.95))}"


def report_students(count: int, students: list[Student]) -> None:
    """One line a student: outcome, times since Start, page updates, traffic."""
    rows = []
    for s in students:
        stats = s.stats
        rows.append([str(s.index), s.outcome(), s.status or "-", fmt(s.since_press(s.accepted)),
                     fmt(s.since_press(s.queued)), fmt(s.since_press(s.running)), fmt(s.since_press(s.first_chart)),
                     fmt(s.updates_per_second()), fmt(s.worst_gap()),
                     f"{stats.auto_reruns_sent} / {stats.fragment_runs}" if stats else "-",
                     f"{stats.bytes / MB:.1f}" if stats else "-"])
    print(f"class of {count}, each student (seconds after Start):")
    print_table(["#", "outcome", "last status", "accepted", "queued", "running", "chart", "updates/s", "worst freeze",
                 "fragment reruns asked / run", "MB"], rows)
    print()


CLASS_HEADER = ["N", "page load p50/p95 s", "started", "queued", "finished", "refused", "full", "errors",
                "Start->accepted n: p50/p95 s", "Start->chart n: p50/p95 s", "updates/s median/min",
                "worst freeze s", "finished job s p50"]
RESOURCE_HEADER = ["N", "server RSS peak MB", "at peak: server + workers RSS / PSS MB (processes)", "server CPU",
                   "server waited for a core s/s", "client CPU", "load avg", "received MB"]


def class_row(count: int, students: list[Student]) -> list[str]:
    """Outcomes, waits after Start and page updates of one class."""
    outcomes = [s.outcome() for s in students]
    accepted = [d for s in students if (d := s.since_press(s.accepted)) is not None]
    charts = [d for s in students if (d := s.since_press(s.first_chart)) is not None]
    rates = [r for s in students if (r := s.updates_per_second()) is not None]
    gaps = [g for s in students if (g := s.worst_gap()) is not None]
    loads = [s.load_seconds for s in students if s.load_seconds is not None]
    durations = [s.ended - s.running for s in students if s.finished and s.running and s.ended]
    return [str(count), pair(loads), str(sum(s.running is not None for s in students)),
            str(sum(s.queued is not None for s in students)), str(outcomes.count("finished")),
            str(outcomes.count("refused")), str(outcomes.count("full")), str(outcomes.count("error")),
            f"{len(accepted)}: {pair(accepted)}", f"{len(charts)}: {pair(charts)}",
            f"{fmt(statistics.median(rates) if rates else None)} / {fmt(min(rates, default=None))}",
            fmt(max(gaps, default=None)), fmt(percentile(durations, 0.5), 0)]


def resource_row(count: int, result: ClassResult) -> list[str]:
    """The server's memory and CPU during one class."""
    peak = result.peak
    received = sum(s.stats.bytes for s in result.students if s.stats)
    return [str(count), f"{result.server_peak / MB:.0f}",
            f"{peak.server / MB:.0f} + {peak.workers / MB:.0f} / {peak.workers_pss / MB:.0f} ({peak.worker_count})",
            f"{result.server_cpu:.0%}", f"{result.server_wait:.2f}", f"{result.client_cpu:.0%}", f"{result.load:.1f}",
            f"{received / MB:.0f}"]


def report_class(results: dict[int, ClassResult], verbose: bool = False) -> None:
    for count, result in results.items():
        if verbose:
            report_students(count, result.students)
        for student in result.students:
            if student.error:
                print(f"  N={count} student {student.index}: {student.error}")
    print_table(CLASS_HEADER, [class_row(count, result.students) for count, result in results.items()])
    print()
    print_table(RESOURCE_HEADER, [resource_row(count, result) for count, result in results.items()])
    check_targets(results)


def check_targets(results: dict[int, ClassResult]) -> None:
    for count, result in results.items():
        waits = [s.since_press(s.answered) for s in result.students]
        worst = max((w for w in waits if w is not None), default=None)
        ok = all(w is not None and w <= ACCEPT_TARGET for w in waits)
        print(f"N={count}: every student saw a job start, a queue position (or a refusal) within "
              f"{ACCEPT_TARGET:.0f} s: {'PASS' if ok else 'FAIL'} (worst {fmt(worst)} s, "
              f"no answer for {waits.count(None)})")
        rates = [r for s in result.students if (r := s.updates_per_second()) is not None]
        verdict = "no job ran 2 s or more" if not rates else (
            f"{'PASS' if min(rates) >= RATE_TARGET else 'FAIL'} "
            f"(min {min(rates):.1f}/s over {len(rates)} running jobs)")
        print(f"N={count}: every running job's page updated >= {RATE_TARGET:.0f}/s: {verdict}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="*", default=[10, 30],
                        help="class sizes (default 10 30; none: only the churn check)")
    parser.add_argument("--seconds", type=float, default=60, help="how long each student watches after Start")
    parser.add_argument("--runner", choices=("thread", "process", "ray"), help="DLBUILDER_RUNNER for the server")
    parser.add_argument("--epochs", type=int, default=10_000, help="epochs of the shared network (~40 s alone)")
    parser.add_argument("--spread", type=float, default=0.0, help="students press Start within this many seconds")
    parser.add_argument("--ttl", type=int, default=5, help="server.disconnectedSessionTTL for the bench servers")
    parser.add_argument("--churn", type=int, default=200, help="sessions opened and closed (0: skip)")
    parser.add_argument("--churn-concurrency", type=int, default=10, help="churn sessions open at once")
    parser.add_argument("--load-timeout", type=float, default=180, help="seconds a page may take to load")
    parser.add_argument("--verbose", action="store_true", help="a line per student")
    parser.add_argument("--cold", action="store_true", help="no teacher visit before the class arrives")
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    code = share_code(args.epochs)
    knobs = " ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("DLBUILDER_"))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; runner {args.runner or 'default'}; "
          f"{args.epochs} epochs; watch {args.seconds:.0f} s; spread {args.spread:.0f} s; "
          f"{knobs or 'no DLBUILDER_ variables'}")
    results = {}
    for count in args.students:
        print(f"class of {count}…", flush=True)
        results[count] = await run_class(count, args, code)
    if results:
        report_class(results, args.verbose)
    if args.churn:
        print(f"\n{args.churn} sessions opened and closed…", flush=True)
        env, flags = server_options(args)
        report_churn(await run_churn(env, flags, args.ttl, code, args.churn, args.churn_concurrency))


if __name__ == "__main__":
    asyncio.run(main())
