"""Profile the engine's Trainer on Playground's 2-4-2-1 net with cProfile and list the top costs.

Run from the repo root: `.venv/bin/python bench/profile_step.py [--device cpu|cuda] [--quick]`.
cProfile adds a fixed cost to every Python call, so shares of small Python functions come out
larger than in an unprofiled run; use it to rank costs, and the other scripts for speeds.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.playground_speed import NETS, playground_document  # noqa: E402
from bench.timing import describe_machine, parse_args, print_table  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402

# (label, file suffix, function name): the engine's parts of one step and of one epoch's end
PARTS = (
    ("Trainer.step (everything)", "training/trainer.py", "step"),
    ("  Trainer._update (forward, loss, backward, optimizer)", "training/trainer.py", "_update"),
    ("    GraphModel.forward", "dlbuilder/compile.py", "forward"),
    ("    model.train() (called every step)", "torch/nn/modules/module.py", "train"),
    ("    optimizer.zero_grad", "torch/optim/optimizer.py", "zero_grad"),
    ("    backward", "torch/_tensor.py", "backward"),
    ("    optimizer.step (with torch's profiling wrapper)", "torch/optim/optimizer.py", "wrapper"),
    ("  Trainer._flush (loss to Python, every step on CPU)", "training/trainer.py", "_flush"),
    ("  Trainer._shuffle (once per epoch)", "training/trainer.py", "_shuffle"),
    ("  Trainer._finish_epoch (once per epoch)", "training/trainer.py", "_finish_epoch"),
    ("    evaluate (train set scoring)", "training/evaluation.py", "evaluate"),
    ("    layer_norms", "training/evaluation.py", "layer_norms"),
    ("    Trainer._snapshot", "training/trainer.py", "_snapshot"),
)


def profile_training(device: str, epochs: int) -> pstats.Stats:
    """cProfile `while trainer.step()` for `epochs` epochs after 5 warm-up epochs."""
    trainer = Trainer(playground_document(NETS[0], 5 + epochs), device=device)
    while trainer.epoch < 5:
        trainer.step()
    profiler = cProfile.Profile()
    profiler.enable()
    while trainer.step():
        pass
    profiler.disable()
    return pstats.Stats(profiler)


def engine_parts(stats: pstats.Stats) -> list[list[str]]:
    """Rows (part, calls, cumulative ms, share of Trainer.step) for PARTS."""
    found = {}
    for (filename, _, name), (calls, _, _, cumulative, _) in stats.stats.items():  # primitive calls
        for label, suffix, function in PARTS:
            if name == function and filename.endswith(suffix):
                old_calls, old_time = found.get(label, (0, 0.0))
                found[label] = (old_calls + calls, old_time + cumulative)
    total = found[PARTS[0][0]][1]
    return [[label, str(found[label][0]), f"{found[label][1] * 1000:.0f}", f"{found[label][1] / total:.0%}"]
            for label, _, _ in PARTS if label in found]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    epochs = 20 if args.quick else 100
    print(describe_machine(args.device), f"| Playground 2-4-2-1 on the spiral, {epochs} epochs x 25 steps")
    stats = profile_training(args.device, epochs)
    print_table(["engine part", "calls", "cumulative ms", "share of step()"], engine_parts(stats))
    print("\nTop 15 functions by own time:")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
