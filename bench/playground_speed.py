"""TensorFlow Playground workloads in epochs/s: the engine, the engine + boundary, a hand loop.

Run from the repo root: `.venv/bin/python bench/playground_speed.py [--device cpu|cuda] [--quick]`.
One epoch is one pass over Playground's 250 training points of the spiral (noise 0) with
tanh, SGD lr 0.03, batch 10 and Playground's init (weights U(-0.5, 0.5), biases 0.1).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.timing import Rate, Stopwatch, describe_machine, parse_args, print_table, run_rounds  # noqa: E402
from dlbuilder.datasets import DATASETS, playground_features  # noqa: E402
from dlbuilder.document import SCHEMA_VERSION, Document, load_document  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402

WARM_EPOCHS = 5
GRID = 100  # the decision boundary is drawn from GRID x GRID predictions over [-6, 6]^2
ALL_FEATURES = ("x", "y", "x_squared", "y_squared", "x_times_y", "sin_x", "sin_y")
REFERENCE = {  # epochs/s measured earlier on this machine, one thread
    "2-4-2-1": {"js": 8900, "js+ui": 317, "dataloader": 210, "tensors": 270},
    "7-8x6-1": {"js": 780, "js+ui": 30, "dataloader": 132, "tensors": 161},
}


@dataclass(frozen=True)
class Net:
    """A Playground network: input features and hidden layer widths; one measurement's epochs."""

    name: str
    features: tuple[str, ...]
    hidden: tuple[int, ...]
    epochs: int

    @property
    def data_params(self) -> dict:
        return {"num_samples": 500, "train_fraction": 0.5, "val_fraction": 0.0, "noise": 0,
                **{name: name in self.features for name in ALL_FEATURES}}


NETS = (Net("2-4-2-1", ("x", "y"), (4, 2), 100), Net("7-8x6-1", ALL_FEATURES, (8,) * 6, 50))


def playground_document(net: Net, epochs: int) -> Document:
    """The net as an engine document: tanh layers, 1 output unit, "mse" on ±1 targets."""
    def node(node_id, node_type, **params):
        return {"id": node_id, "type": node_type, "params": params}
    nodes = [node("input", "input")]
    nodes += [node(f"dense{i}", "dense", units=units, activation="tanh")
              for i, units in enumerate(net.hidden, 1)]
    nodes.append(node("output", "output", task="classification", units=1, activation="identity"))
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]
    return load_document({"schema_version": SCHEMA_VERSION, "name": f"playground {net.name}",
                          "network": {"nodes": nodes, "edges": edges}, "seed": 0,
                          "data": {"name": "spiral", "params": net.data_params},
                          "training": {"optimizer": "sgd", "learning_rate": 0.03, "batch_size": 10,
                                       "init": "uniform", "loss": "mse", "epochs": epochs}})


def boundary_grid(net: Net, device: torch.device) -> torch.Tensor:
    """The GRID x GRID points over [-6, 6]^2 as the net's input features (N, F), made once."""
    axis = torch.linspace(-6, 6, GRID)
    points = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    return playground_features(points, net.data_params).to(device)


@torch.no_grad()
def draw_inputs(model: nn.Module, grid: torch.Tensor, test) -> float:
    """What a page needs after each epoch: the boundary as a host array and the test loss."""
    model.eval()
    model(grid).cpu().numpy()  # (GRID * GRID, 1)
    test_loss = float(0.5 * (model(test.x) - test.t).square().mean())
    model.train()
    return test_loss


def engine_rate(net: Net, device: str, epochs: int, draw: bool) -> Rate:
    """Epochs/s of `while trainer.step()` (its own end-of-epoch work included), maybe + boundary."""
    trainer = Trainer(playground_document(net, WARM_EPOCHS + epochs), device=device)
    grid, test = boundary_grid(net, trainer.setup.device), trainer.setup.splits["test"]
    while trainer.epoch < WARM_EPOCHS:
        trainer.step()
    watch, more = Stopwatch(device), True
    while more:
        epoch = trainer.epoch
        more = trainer.step()
        if draw and trainer.epoch > epoch:
            draw_inputs(trainer.setup.model, grid, test)
    return watch.rate(trainer.epoch - WARM_EPOCHS)


def hand_rate(net: Net, device: str, epochs: int, draw: bool) -> Rate:
    """Epochs/s of a minimal loop on the same tensors and starting weights; loss 0.5 * (out - y)^2."""
    setup = Trainer(playground_document(net, epochs), device=device).setup
    widths = (len(net.features), *net.hidden)
    layers = [layer for a, b in zip(widths, widths[1:]) for layer in (nn.Linear(a, b), nn.Tanh())]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], 1)).to(setup.device)
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), setup.model.parameters(), strict=True):
            mine.copy_(theirs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, foreach=True)
    train, test, grid = setup.splits["train"], setup.splits["test"], boundary_grid(net, setup.device)
    watch = None
    for epoch in range(WARM_EPOCHS + epochs):
        if epoch == WARM_EPOCHS:
            watch = Stopwatch(device)
        order = torch.randperm(len(train), device=setup.device)
        x, t = train.x[order], train.t[order]
        for begin in range(0, len(x), 10):
            loss = 0.5 * (model(x[begin:begin + 10]) - t[begin:begin + 10]).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if draw:
            with torch.no_grad():
                float(0.5 * (model(train.x) - train.t).square().mean())  # train loss
            draw_inputs(model, grid, test)
    return watch.rate(epochs)


VARIANTS = {"engine": (engine_rate, False), "engine+boundary": (engine_rate, True),
            "hand": (hand_rate, False), "hand+losses+boundary": (hand_rate, True)}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 1 if args.quick else 3
    print(describe_machine(args.device), f"| median of {repeats} interleaved rounds | epochs/s by the wall "
          "clock (per CPU-second of this process in brackets)")
    rows = []
    for net in NETS:
        train_points = len(DATASETS["spiral"].load(net.data_params, 0).x_train)
        assert train_points == 250, f"expected Playground's 250 training points, got {train_points}"
        epochs = net.epochs // 5 if args.quick else net.epochs
        rates = run_rounds({name: (lambda f=f, draw=draw: f(net, args.device, epochs, draw))
                            for name, (f, draw) in VARIANTS.items()}, repeats)
        ref = REFERENCE[net.name]
        rows.append([net.name, str(epochs), *(f"{r.wall:,.0f} ({r.cpu:,.0f})" for r in rates.values()),
                     f"{ref['js']:,} / {ref['js+ui']}", f"{ref['tensors']} / {ref['dataloader']}"])
        print_summary(net.name, rates, ref)
    print()
    header = ["net", "epochs", *VARIANTS, "ref. Playground JS raw / +UI", "ref. tensors / DataLoader"]
    print_table(header, rows)


def print_summary(name: str, rates: dict[str, Rate], ref: dict) -> None:
    """Two lines comparing this run with the reference figures taken earlier on this machine."""
    engine, drawn, hand = rates["engine"].wall, rates["engine+boundary"].wall, rates["hand"].wall
    speed = hand / ref["tensors"]  # how fast this machine runs the same hand loop now, vs then
    print(f"{name}: engine {engine:,.0f} epochs/s = {engine / hand:.2f} x this run's hand loop ({hand:,.0f}); "
          f"with boundary {drawn:,.0f} (Playground JS with its UI: {ref['js+ui']})")
    print(f"  the hand loop ran at {speed:.2f} x its reference ({ref['tensors']}); engine / Playground JS raw = "
          f"{engine / ref['js']:.3f}, with boundary / Playground JS with UI = {drawn / ref['js+ui']:.2f}")


if __name__ == "__main__":
    main()
