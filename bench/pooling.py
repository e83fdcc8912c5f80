"""Max-pooling speed: torch's nn.MaxPool2d against dlbuilder's MaxPool2d (dlbuilder/modules.py).

1. Microseconds per call on (512, C, H, W), the shapes the digits CNNs make (the lenet preset and the
   wider CNN of bench/landscape.py, plus an odd size): the forward without autograd (evaluation, loss
   landscapes: dlbuilder takes its element-wise path) and forward + backward (training: dlbuilder takes
   nn.MaxPool2d's path). The last column times the element-wise form under autograd, to show why
   training does not use it.
2. The forward at small batches, where the single kernel wins (dlbuilder's `fast_min_values`).
3. The lenet preset's training (steps/s, end-of-epoch scoring included) and the wider CNN's 41x41 loss
   landscape, each with the fast path off (as before) and on, in the same run.

Variants take turns in each round; figures are the best (1) or the median (3) of the rounds.
Run from the repo root: .venv/bin/python bench/pooling.py [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.job_overhead import WORKLOADS, engine_rate  # noqa: E402
from bench.landscape import progressive, workloads  # noqa: E402
from bench.timing import describe_machine, parse_args, print_table, synchronize  # noqa: E402
from dlbuilder import modules  # noqa: E402
from dlbuilder.training.setup import prepare  # noqa: E402

SHAPES = {"lenet pool1": (6, 8, 8), "lenet pool2": (16, 4, 4), "wide cnn pool1": (16, 8, 8),
          "wide cnn pool2": (32, 4, 4), "odd 7x7": (8, 7, 7)}
SMALL_BATCHES = (1, 4, 8, 16, 32, 64)


@contextlib.contextmanager
def slow_pooling():
    """dlbuilder's MaxPool2d always takes nn.MaxPool2d's path inside (the code before the fast path)."""
    saved = modules.MaxPool2d.fast_min_values
    modules.MaxPool2d.fast_min_values = float("inf")
    try:
        yield
    finally:
        modules.MaxPool2d.fast_min_values = saved


def microseconds(action, device: str, rounds: int, calls: int = 100) -> float:
    """The best of `rounds` averages over `calls` calls, after a warm-up."""
    for _ in range(5):
        action()
    best = float("inf")
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            action()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def forward_only(pool, x):
    def action():
        with torch.no_grad():
            pool(x)
    return action


def forward_backward(pool, x):
    def action():
        leaf = x.detach().requires_grad_()
        pool(leaf).sum().backward()
    return action


def pool_table(device: str, rounds: int) -> None:
    """Section 1: nn.MaxPool2d vs dlbuilder's, forward and forward + backward, batch 512."""
    reference, fast = nn.MaxPool2d(2), modules.MaxPool2d(2)
    rows = []
    for name, shape in SHAPES.items():
        x = torch.randn(512, *shape, device=device)
        assert torch.equal(fast(x), reference(x))
        times = [microseconds(forward_only(pool, x), device, rounds) for pool in (reference, fast)]
        times += [microseconds(forward_backward(pool, x), device, rounds)
                  for pool in (reference, fast, modules.MaxPool2d.max_of_pairs)]
        rows.append([name, str((512, *shape))] + [f"{t:,.0f}" for t in times]
                    + [f"{times[0] / times[1]:.1f}x", f"{times[2] / times[3]:.2f}x", f"{times[2] / times[4]:.2f}x"])
    print_table(["shape", "(B, C, H, W)", "fwd nn us", "fwd ours us", "f+b nn us", "f+b ours us",
                 "f+b elementwise us", "fwd gain", "f+b gain", "elementwise f+b gain"], rows)


def small_batch_table(device: str, rounds: int) -> None:
    """Section 2: where the element-wise form starts to pay (forward without autograd)."""
    rows = []
    for shape in ((6, 8, 8), (16, 4, 4), (8, 28, 28)):
        for batch in SMALL_BATCHES:
            x = torch.randn(batch, *shape, device=device)
            slow = microseconds(forward_only(nn.MaxPool2d(2), x), device, rounds)
            elementwise = microseconds(forward_only(modules.MaxPool2d.max_of_pairs, x), device, rounds)
            rows.append([str((batch, *shape)), f"{x.numel():,}", f"{slow:.1f}", f"{elementwise:.1f}",
                         f"{slow / elementwise:.1f}x"])
    print_table(["(B, C, H, W)", "values", "nn us", "elementwise us", "gain"], rows)
    print(f"dlbuilder's MaxPool2d takes the element-wise form from {modules.MaxPool2d.fast_min_values:,} values")


def end_to_end(device: str, rounds: int, quick: bool) -> None:
    """Section 3: lenet training steps/s and the wider CNN's 41x41 landscape, fast path off then on."""
    lenet = next(w for w in WORKLOADS if w.name.startswith("lenet"))
    setup = prepare(workloads()["wide cnn (digits)"], device=device)
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for label, context in (("nn.MaxPool2d path", slow_pooling), ("fast path", contextlib.nullcontext)):
            with context():
                steps = engine_rate(lenet, device, 4 if quick else lenet.epochs)
                _, seconds, cpu_seconds, _ = progressive(setup, 512)
            results.setdefault(f"{label}: lenet training steps/s", []).append(steps.wall)
            results.setdefault(f"{label}: lenet training steps per CPU-s", []).append(steps.cpu)
            results.setdefault(f"{label}: wide cnn 41x41 landscape s", []).append(seconds)
            results.setdefault(f"{label}: wide cnn 41x41 landscape CPU s", []).append(cpu_seconds)
    for name, values in results.items():
        print(f"  {name:50} {statistics.median(values):8.2f}   (rounds: {', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rounds = 1 if args.quick else 3
    print(describe_machine(args.device))
    print("\n1. batch 512, best of rounds (us per call; gain = nn time / dlbuilder time)")
    pool_table(args.device, rounds + 2)
    print("\n2. small batches, forward without autograd")
    small_batch_table(args.device, rounds + 2)
    print("\n3. end to end, medians of rounds")
    end_to_end(args.device, rounds, args.quick)


if __name__ == "__main__":
    main()
