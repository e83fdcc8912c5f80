"""Shared helpers for the benchmark scripts: command line, clock, repeats and a text table."""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


def parse_args(description: str) -> argparse.Namespace:
    """The options every benchmark takes: --device cpu|cuda and --quick."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to train (default cpu)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and one repeat (a smoke test)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was given but torch sees no CUDA GPU")
    torch.set_num_threads(1)  # the engine trains with one thread (see dlbuilder.training.device)
    return args


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work, so the clock measures work done rather than work launched."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass(frozen=True)
class Rate:
    """Work per second by the wall clock and per CPU-second of this process (all its threads)."""

    wall: float
    cpu: float


class Stopwatch:
    """Wall and process CPU time since `start()`; reads the clock only after the device is idle."""

    def __init__(self, device: torch.device | str):
        self.device = device
        self.start()

    def start(self) -> None:
        synchronize(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rate(self, work: float) -> Rate:
        """`work` done since `start()` divided by the elapsed wall and CPU seconds."""
        synchronize(self.device)
        return Rate(work / (time.perf_counter() - self.wall), work / (time.process_time() - self.cpu))


def median_rate(measurements: list[Rate]) -> Rate:
    """The median wall rate and the median CPU rate of repeated measurements."""
    return Rate(statistics.median(r.wall for r in measurements),
                statistics.median(r.cpu for r in measurements))


def run_rounds(measures: dict[str, Callable[[], Rate]], repeats: int) -> dict[str, Rate]:
    """Median rate of each measure; rounds interleave the measures so background load hits all alike."""
    results: dict[str, list[Rate]] = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            results[name].append(measure())
    return {name: median_rate(rates) for name, rates in results.items()}


def describe_machine(device: str) -> str:
    """One line: device name, torch version and thread count."""
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    return f"device {device} ({name}), torch {torch.__version__}, torch threads {torch.get_num_threads()}"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns under a header line."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
