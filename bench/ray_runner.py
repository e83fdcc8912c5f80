"""Job start latency and updates/s of the thread, process and Ray runners, measured in one run.

Run from the repo root: `.venv/bin/python bench/ray_runner.py [--quick]` (~1.5 min on 2 vCPUs; needs
ray). The job is the Playground preset (2-4-2-1 tanh on the circle, NumPy fast path). For each
runner, rounds take turns (thread, process, ray) and the table shows medians:

- **start**: `submit` -> the first step record in `snapshot()` (the page's first loss point).
  The process runner's forkserver and the local Ray instance are started before (their one-off
  start is printed apart), so this is the cost of every later job.
- **updates/s**: steps over a WINDOW-second run while this thread plays the page: `snapshot()`,
  `heartbeat()` and `state_dict()` 5 times a second.
- **server CPU**: this process's CPU time over the window, as a share of one core (for the thread
  runner it includes the training itself; for the others it is the relaying).
Then the Ray poll round trip: `poll()` called back to back on an actor that is training.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import parse_args, print_table  # noqa: E402
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training import ray_runner  # noqa: E402
from dlbuilder.training.job import ThreadRunner  # noqa: E402
from dlbuilder.training.process_runner import ProcessRunner  # noqa: E402
from dlbuilder.training.ray_runner import RayRunner  # noqa: E402

WINDOW = 5.0  # seconds of training measured per job
PAGE_POLLS_PER_SECOND = 5
ROUND_TRIPS = 200


def long_playground():
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000
    return document


def measure_job(runner, window: float) -> tuple[float, float, float]:
    """(seconds from submit to the first step record, updates/s over `window`, server CPU share)."""
    start = time.perf_counter()
    job = runner.submit(long_playground())
    while not job.snapshot().steps:
        if not job.active:
            raise RuntimeError(f"the job ended before its first step: {job.status}: {job.message}")
        time.sleep(0.002)
    latency = time.perf_counter() - start
    first_step, wall, cpu = job.snapshot().step, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < window:
        job.heartbeat()
        job.state_dict()
        time.sleep(1 / PAGE_POLLS_PER_SECOND)
        job.snapshot()
    steps, wall, cpu = job.snapshot().step - first_step, time.perf_counter() - wall, time.process_time() - cpu
    job.stop()
    if not job.wait(60):
        raise RuntimeError("the job did not stop within 60 s")
    return latency, steps / wall, cpu / wall


def warm_up(runners: dict) -> dict[str, float]:
    """Start the forkserver and the local Ray instance (and one job each); their one-off seconds."""
    seconds = {}
    start = time.perf_counter()
    ray_runner.ensure_ray()
    seconds["ray.init (local instance)"] = time.perf_counter() - start
    for name, runner in runners.items():
        start = time.perf_counter()
        measure_job(runner, 0.5)
        seconds[f"first {name} job (warm-up)"] = time.perf_counter() - start
    return seconds


def poll_round_trip(count: int) -> float:
    """Median seconds of one `poll([])` round trip to an actor that is training."""
    ray = ray_runner.ensure_ray()
    actor = ray_runner._actor_class.options(num_cpus=1, max_restarts=0).remote(
        long_playground().to_json(None), None, None)
    ray.get(actor.poll.remote([]))  # (starts the training thread)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        ray.get(actor.poll.remote([]))
        times.append(time.perf_counter() - start)
    ray.kill(actor)
    return statistics.median(times)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    os.environ.setdefault("DLBUILDER_RAY_CPUS", "2")
    rounds, window = (1, 2.0) if args.quick else (3, WINDOW)
    runners = {"thread": ThreadRunner(), "process": ProcessRunner(), "ray": RayRunner()}
    runners["process"].warm_up()
    for what, seconds in warm_up(runners).items():
        print(f"{what}: {seconds:.2f} s")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            results[name].append(measure_job(runner, window))
    medians = {name: [statistics.median(r[i] for r in rows) for i in range(3)] for name, rows in results.items()}
    base_latency, base_rate = medians["thread"][0], medians["thread"][1]
    print(f"\nPlayground job, median of {rounds} round(s), {window:g} s windows, cpus={os.cpu_count()}")
    print_table(["runner", "start (s)", "vs thread", "updates/s", "vs thread", "server CPU"],
                [[name, f"{lat:.3f}", f"{lat / base_latency:.1f}x", f"{rate:,.0f}", f"{rate / base_rate:.2f}",
                  f"{cpu:.0%}"] for name, (lat, rate, cpu) in medians.items()])
    print(f"\nRay poll round trip (training actor, median of {ROUND_TRIPS if not args.quick else 50}): "
          f"{poll_round_trip(50 if args.quick else ROUND_TRIPS) * 1000:.2f} ms")
    for runner in runners.values():
        runner.shutdown()


if __name__ == "__main__":
    main()
