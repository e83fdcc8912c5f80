"""Steps/s of the engine's Trainer, of a ThreadRunner job, and of a hand-written PyTorch loop.

Run from the repo root: `.venv/bin/python bench/job_overhead.py [--device cpu|cuda] [--quick]`.
All loops train the same architecture on the same in-memory tensors with the same optimizer
and batch size. The engine's figures include its end-of-epoch work (scoring train and
validation sets, layer norms, weight snapshot); "hand + epoch work" adds the same work to the
hand loop, so the gap between the two hand columns is the price of that work.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.timing import Rate, Stopwatch, describe_machine, parse_args, print_table, run_rounds  # noqa: E402
from dlbuilder.document import SCHEMA_VERSION, Document, load_document  # noqa: E402
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.job import ThreadRunner  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402

WARM_EPOCHS = 1
POLLS_PER_SECOND = 5


@dataclass(frozen=True)
class Workload:
    """A document, the same network written by hand, and how many epochs one measurement takes."""

    name: str
    document: Callable[[], Document]
    hand_model: Callable[[], nn.Module]
    epochs: int


def mlp_document() -> Document:
    """Digits flattened -> 256 -> 256 -> 10 (ReLU), Adam, batch 32."""
    def node(node_id, node_type, **params):
        return {"id": node_id, "type": node_type, "params": params}
    nodes = [node("input", "input"), node("flatten", "flatten"),
             node("dense1", "dense", units=256, activation="relu"),
             node("dense2", "dense", units=256, activation="relu"), node("output", "output")]
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]
    return load_document({"schema_version": SCHEMA_VERSION, "name": "mlp 256x256",
                          "network": {"nodes": nodes, "edges": edges},
                          "data": {"name": "digits", "params": {}}, "seed": 0,
                          "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32}})


def lenet_by_hand() -> nn.Module:
    """The "lenet" preset as a plain nn.Sequential."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def mlp_by_hand() -> nn.Module:
    """`mlp_document` as a plain nn.Sequential."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


WORKLOADS = (Workload("lenet (digits CNN)", PRESETS["lenet"].load, lenet_by_hand, 16),
             Workload("mlp 64-256-256-10", mlp_document, mlp_by_hand, 30))


def with_epochs(workload: Workload, epochs: int) -> Document:
    """The workload's document set to train the warm-up epochs plus `epochs`."""
    document = workload.document()
    document.training["epochs"] = WARM_EPOCHS + epochs
    return document


def engine_rate(workload: Workload, device: str, epochs: int) -> Rate:
    """Steps/s of `while trainer.step()` after a warm-up epoch, end-of-epoch work included."""
    trainer = Trainer(with_epochs(workload, epochs), device=device)
    while trainer.epoch < WARM_EPOCHS:
        trainer.step()
    first_step, watch = trainer.step_count, Stopwatch(device)
    while trainer.step():
        pass
    return watch.rate(trainer.step_count - first_step)


def runner_rate(workload: Workload, device: str, epochs: int) -> Rate:
    """Steps/s of a ThreadRunner job while this thread polls `snapshot()` 5 times a second."""
    runner = ThreadRunner()
    handle = runner.submit(with_epochs(workload, epochs), device=device)
    first_step, watch = None, None
    while not handle.wait(1 / POLLS_PER_SECOND):
        snapshot = handle.snapshot()
        if first_step is None and snapshot.epoch >= WARM_EPOCHS:  # start the clock after the warm-up
            first_step, watch = snapshot.step, Stopwatch(device)
    if handle.status != "finished" or watch is None:
        raise RuntimeError(f"the job ended with {handle.status} before it could be timed: {handle.message}")
    return watch.rate(handle.snapshot().step - first_step)


def hand_rate(workload: Workload, device: str, epochs: int, epoch_work: bool) -> Rate:
    """Steps/s of a plain loop: randperm + slicing of in-memory tensors, no .item() per step."""
    setup = Trainer(with_epochs(workload, epochs), device=device).setup  # same data, weights, settings
    model = workload.hand_model().to(setup.device)
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), setup.model.parameters(), strict=True):
            mine.copy_(theirs)
    s = setup.settings
    optimizer = torch.optim.Adam(model.parameters(), lr=s["learning_rate"], betas=(s["beta1"], s["beta2"]),
                                 foreach=True)
    loss_fn, train, batch = nn.CrossEntropyLoss(), setup.splits["train"], s["batch_size"]
    steps, watch = 0, None
    for epoch in range(WARM_EPOCHS + epochs):
        if epoch == WARM_EPOCHS:
            steps, watch = 0, Stopwatch(device)
        order = torch.randperm(len(train), device=setup.device)
        x, t = train.x[order], train.t[order]
        for begin in range(0, len(x), batch):
            loss = loss_fn(model(x[begin:begin + batch]), t[begin:begin + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        if epoch_work:
            end_of_epoch(model, loss_fn, setup.splits)
    return watch.rate(steps)


def end_of_epoch(model: nn.Module, loss_fn: nn.Module, splits: dict) -> list[float]:
    """What the engine does after each epoch, by hand: score two splits, norms, a weight copy."""
    numbers = []
    model.eval()
    with torch.no_grad():
        for name in ("train_eval", "val"):
            split = splits[name]
            out = model(split.x)
            numbers += [float(loss_fn(out, split.t)), float((out.argmax(1) == split.y).float().mean())]
    model.train()
    params = [p.detach() for p in model.parameters()]
    numbers += torch.stack(torch._foreach_norm(params)).tolist()
    numbers += torch.stack(torch._foreach_norm([p.grad for p in model.parameters()])).tolist()
    torch.cat([p.reshape(-1) for p in params]).cpu()
    return numbers


COLUMNS = ("engine", "runner", "hand", "hand+epoch work")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 1 if args.quick else 3
    print(describe_machine(args.device), f"| median of {repeats} interleaved rounds, "
          f"after {WARM_EPOCHS} warm-up epoch")
    results = {}
    for workload in WORKLOADS:
        epochs = max(2, workload.epochs // 4) if args.quick else workload.epochs
        results[workload.name, epochs] = run_rounds({
            "engine": lambda: engine_rate(workload, args.device, epochs),
            "runner": lambda: runner_rate(workload, args.device, epochs),
            "hand": lambda: hand_rate(workload, args.device, epochs, False),
            "hand+epoch work": lambda: hand_rate(workload, args.device, epochs, True)}, repeats)
    for clock in ("wall", "cpu"):
        print(f"\nsteps/s by {'the wall clock' if clock == 'wall' else 'CPU time of this process'}:")
        rows = []
        for (name, epochs), rates in results.items():
            value = {column: getattr(rates[column], clock) for column in COLUMNS}
            rows.append([name, str(epochs), *(f"{value[c]:,.0f}" for c in COLUMNS),
                         f"{value['engine'] / value['hand']:.2f}", f"{value['runner'] / value['hand']:.2f}",
                         f"{value['engine'] / value['hand+epoch work']:.2f}"])
        header = ["workload", "epochs", *COLUMNS, "engine/hand", "runner/hand", "engine/(hand+work)"]
        print_table(header, rows)
    print("\ntarget: ratios >= 0.90. Engine and runner include the end-of-epoch scoring, norms and snapshot;")
    print("CPU-time rates are steadier when other processes share the cores (wall < CPU means contention).")


if __name__ == "__main__":
    main()
