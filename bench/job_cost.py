"""The scheduler's cost estimate against measured training time, for every preset.

Each preset trains on the CPU (1 torch thread) for about --seconds; its measured time for all its
epochs is extrapolated from the epochs done, and compared with `training.cost.estimate`. Admission
control refuses runs whose estimate exceeds DLBUILDER_MAX_JOB_MINUTES, so an estimate within a few
times of the truth is what matters; the queue's "about N s" corrects itself from running jobs' progress.

Run from the repo root: .venv/bin/python bench/job_cost.py [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.cost import estimate  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402


def measured_seconds(document, budget: float) -> tuple[float, bool]:
    """Seconds for all the document's epochs, extrapolated from `budget` seconds of training."""
    trainer = Trainer(document, device="cpu")
    trainer.step()  # (the first call of a kernel pays one-off set-up: not part of the rate)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget and trainer.step():
        steps += 1
    elapsed = time.perf_counter() - start
    total_steps = trainer.updates_per_epoch * document.training["epochs"]
    return elapsed / max(steps, 1) * total_steps, trainer._fast is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'preset':<22}{'epochs':>8}{'estimate s':>12}{'measured s':>12}{'est/meas':>10}  path")
    ratios = []
    for name, preset in PRESETS.items():
        document = preset.load()
        cost = estimate(document, "cpu")
        seconds, fast = measured_seconds(document, args.seconds)
        ratios.append(cost.seconds / seconds)
        print(f"{name:<22}{cost.epochs:>8,}{cost.seconds:>12.1f}{seconds:>12.1f}{ratios[-1]:>10.2f}  "
              f"{'numpy fast path' if fast else 'torch'}")
    ratios.sort()
    print(f"estimate / measured: median {ratios[len(ratios) // 2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")


if __name__ == "__main__":
    main()
