"""Companion runs for the landscape's shared plane: the cost model's estimate against the clock.

    .venv/bin/python bench/companions.py           # ~2 min on 2 vCPUs
    .venv/bin/python bench/companions.py --quick   # a tenth of the epochs, no capped run: a smoke test

For the Playground default on circle and lenet on digits, 3 other seeds and the optimizer race,
each for the preset's epochs capped to what `BUDGET_SECONDS` affords (as the Inspect page does):
the estimate (`plan_companions`), the wall-clock and CPU seconds of `train_companions`, and CPU
seconds over the estimate. Last, lenet asked for 1,000 epochs: the cap binds, and the run shows
how close to the budget a capped request really comes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbuilder.inspection.companions import (BUDGET_SECONDS, affordable_epochs,  # noqa: E402
                                             companion_documents, plan_companions, train_companions)
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.setup import load_bundle  # noqa: E402


def measure(preset: str, variant: str, quick: bool, asked: int | None = None) -> None:
    document = PRESETS[preset].load()
    document.training["device"] = "cpu"
    if asked is not None:
        document.training["epochs"] = asked
    bundle = load_bundle(document)
    runs = len(companion_documents(document, variant))
    epochs = min(document.training["epochs"], affordable_epochs(document, bundle, runs))
    if quick:
        epochs = max(1, epochs // 10)
    plan = plan_companions(document, variant, epochs, bundle=bundle)
    wall, cpu = time.perf_counter(), time.process_time()
    paths = train_companions(document, variant, epochs, bundle=bundle)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    notes = "; ".join(f"{path.label}: {path.note}" for path in paths if path.note) or "-"
    print(f"{preset:10s} {variant:10s} {len(paths)} runs x {epochs:4d} epochs"
          f"   estimate {plan.estimated_seconds:6.1f} s"
          f"   measured {wall:6.1f} s wall, {cpu:6.1f} s CPU   CPU/estimate {cpu / plan.estimated_seconds:4.2f}"
          f"   notes: {notes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the epochs")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    print(f"budget {BUDGET_SECONDS:.0f} s per request, one CPU thread")
    for preset in ("playground", "lenet"):  # warm-up, untimed: data generation, torch's first calls
        train_companions(PRESETS[preset].load(), "seeds", 1, runs=1)
    for preset in ("playground", "lenet"):
        for variant in ("seeds", "optimizers"):
            measure(preset, variant, arguments.quick)
    if not arguments.quick:
        measure("lenet", "seeds", False, asked=1000)


if __name__ == "__main__":
    main()
