"""A 16-run sweep on Playground's 7-feature 6x8 net: trained together (vectorised) vs 16 separate runs.

The workload is bench/live_loop.py's "7 features, 6x8" Playground link (spiral, tanh, SGD, batch 10,
250 training points, no reshuffling), swept over 4 learning rates x 4 seeds: one architecture, so all
16 runs form one vectorised group. Measured in one process, in rounds that take turns:

  * separate: the 16 runs one after another, each a `Trainer` (with the NumPy fast path), as a
    sweep without vectorisation would train them in one thread;
  * vectorised: the same 16 runs as one `VectorisedGroup` (the NumPy fast path batched over networks);
  * updates only (references): the vectorised group's bare updates, and 16 networks' SGD update written
    with torch.func (`functional_call` + `vmap` + `grad`), eager and, with --compile, under `torch.compile`
    (whose first call compiles: its seconds are printed), all without scoring or curves.

Rates are total training examples per second over all 16 runs (16 x epochs x 250 / seconds), the
whole run from its documents (data, initial weights, per-epoch scoring and records included) and
the training alone (after every run is prepared). Also printed against TensorFlow Playground's own
engine on this net (780 epochs/s raw, 30 with its page drawing: bench/playground_speed.py).

Run from the repo root: .venv/bin/python bench/sweeps.py [--quick] [--compile]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.live_loop import WORKLOADS  # noqa: E402
from bench.timing import print_table  # noqa: E402
from dlbuilder.experiments import SweepAxis, SweepSpec, plan_sweep  # noqa: E402
from dlbuilder.experiments.group import VectorisedGroup  # noqa: E402
from dlbuilder.experiments.results import SweepProgress  # noqa: E402
from dlbuilder.playground_import import document_from_playground  # noqa: E402
from dlbuilder.training.setup import prepare  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402

RUNS = 16
PLAYGROUND_EPOCHS = {"raw": 780.0, "with its page": 30.0}  # epochs/s on this net, one thread, measured earlier


def sweep_plan(epochs: int):
    base = document_from_playground(WORKLOADS["7 features, 6x8"][0])
    spec = SweepSpec(base, (SweepAxis("learning_rate", (0.01, 0.03, 0.1, 0.3)), SweepAxis("seed", (1, 2, 3, 4))),
                     epochs=epochs)
    plan = plan_sweep(spec, budget_seconds=1e9)
    assert len(plan.runs) == RUNS and plan.groups == (tuple(range(1, RUNS + 1)),), plan.describe()
    return plan


def separate(plan) -> tuple[float, float]:
    """(whole seconds, training seconds) of the 16 runs one after another."""
    start, training = time.perf_counter(), 0.0
    for run in plan.runs:
        trainer = Trainer(run.document)
        tick = time.perf_counter()
        while trainer.step():
            pass
        training += time.perf_counter() - tick
    return time.perf_counter() - start, training


def vectorised(plan) -> tuple[float, float]:
    """(whole seconds, training seconds) of the 16 runs as one group."""
    start = time.perf_counter()
    progress = SweepProgress(plan.runs)
    group = VectorisedGroup([progress.state(i) for i in plan.groups[0]])
    group.start()
    tick = time.perf_counter()
    while not group.done:
        group.advance()
    end = time.perf_counter()
    assert all(state.status == "finished" for state in progress.states)
    return end - start, end - tick


def numpy_updates(plan) -> float:
    """Seconds of the vectorised group's bare updates (no scoring, no records): torch.func's counterpart."""
    progress = SweepProgress(plan.runs)
    group = VectorisedGroup([progress.state(i) for i in plan.groups[0]])
    group.start()
    x, t, lr = group.train_x[0], group.train_t[0], [s.settings["learning_rate"] for s in group.setups]
    x, t = x[None].repeat(RUNS, axis=0), t[None].repeat(RUNS, axis=0)  # (16, N, ...): one batch order for all
    tick = time.perf_counter()
    for _ in range(plan.runs[0].document.training["epochs"]):
        for start in range(0, x.shape[1], 10):
            group.stack.update(x[:, start:start + 10], t[:, start:start + 10], lr)
    return time.perf_counter() - tick


def torch_func(plan, compiled: bool) -> tuple[float, float]:
    """(training seconds, first-call seconds) of the 16 networks' bare SGD updates with functional_call +
    vmap (+ compile: the first call compiles)."""
    from torch.func import functional_call, grad_and_value, stack_module_state

    setups = [prepare(run.document) for run in plan.runs]
    params, _ = stack_module_state([s.model for s in setups])
    skeleton = copy.deepcopy(setups[0].model).to("meta")
    x, t = setups[0].splits["train"].x, setups[0].splits["train"].t
    rates = torch.tensor([s.settings["learning_rate"] for s in setups])

    def loss(p, xb, tb):
        return 0.5 * (functional_call(skeleton, p, (xb,)) - tb).square().mean()

    gradients = torch.vmap(grad_and_value(loss), in_dims=(0, None, None))

    def step(p, xb, tb):
        grads, _ = gradients(p, xb, tb)
        return {k: v - rates.view(-1, *[1] * (v.dim() - 1)) * grads[k] for k, v in p.items()}

    update = torch.compile(step) if compiled else step
    tick = time.perf_counter()
    params = update({k: v.detach() for k, v in params.items()}, x[:10], t[:10])  # warm-up (compiles)
    first = time.perf_counter() - tick
    tick = time.perf_counter()
    for _ in range(plan.runs[0].document.training["epochs"]):
        for start in range(0, len(x), 10):
            params = update(params, x[start:start + 10], t[start:start + 10])
    return time.perf_counter() - tick, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 epochs and one round (a smoke test)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile the torch.func update (~1 min)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    epochs, rounds = (20, 1) if args.quick else (100, 3)
    plan = sweep_plan(epochs)
    examples = RUNS * epochs * plan.runs[0].document.training["batch_size"] * 25  # 25 updates of 10 per epoch
    separate(sweep_plan(2))  # warm-up: imports, first optimizer, dataset caches
    measured: dict[str, list[tuple[float, float]]] = {"separate": [], "vectorised": []}
    for _ in range(rounds):
        measured["separate"].append(separate(plan))
        measured["vectorised"].append(vectorised(plan))
    whole = {name: examples / statistics.median(w for w, _ in times) for name, times in measured.items()}
    train = {name: examples / statistics.median(t for _, t in times) for name, times in measured.items()}
    updates_only = {"vectorised, updates only": examples / numpy_updates(plan)}
    seconds, _ = torch_func(plan, compiled=False)
    updates_only["torch.func vmap, updates only"] = examples / seconds
    if args.compile:
        seconds, compile_seconds = torch_func(plan, compiled=True)
        updates_only[f"torch.func vmap + compile, updates only (compiling took {compile_seconds:.0f} s)"] = \
            examples / seconds
    print(f"{RUNS} runs x {epochs} epochs of Playground's 7-8x6-1 (250 points, batch 10), torch threads "
          f"{torch.get_num_threads()}, median of {rounds} round(s)")
    rows = [[name, f"{whole[name]:,.0f}", f"{train[name]:,.0f}", f"{whole[name] / whole['separate']:.1f}x",
             f"{train[name] / train['separate']:.1f}x"] for name in measured]
    rows += [[name, "", f"{rate:,.0f}", "", f"{rate / train['separate']:.1f}x"] for name, rate in updates_only.items()]
    print_table(["", "examples/s (whole)", "examples/s (training)", "vs separate (whole)",
                 "vs separate (training)"], rows)
    for label, epochs_per_second in PLAYGROUND_EPOCHS.items():
        playground = epochs_per_second * 250
        print(f"vectorised sweep vs Playground {label} ({playground:,.0f} examples/s): "
              f"{whole['vectorised'] / playground:.1f}x")


if __name__ == "__main__":
    main()
