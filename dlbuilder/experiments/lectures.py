"""The lectures' experiments as ready-made sweeps: `LECTURE_SWEEPS` maps a name to its LectureSweep.

- `hidden_layers`: lecture 002's table, 1 to 4 hidden layers of 100 ReLUs forecasting daily views
  from the past 56 days, trained on 2017-2020 and tested on 2021: training loss keeps falling with
  depth while test loss stops improving (overfitting).
- `fat_vs_thin`: one wide layer against several narrow ones with about the same number of parameters
  (lectures 001, 004: "why deep?").
- `dropout`, `batchnorm`, `init`: same-seed A/B runs with dropout on/off, batch norm on/off in a deep
  sigmoid net, and zero against Glorot initialisation (lecture 003).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dlbuilder.document import SCHEMA_VERSION, Document, load_document
from dlbuilder.experiments.spec import SweepAxis, SweepSpec


@dataclass(frozen=True)
class LectureSweep:
    """A named sweep from the lectures: what it shows, the question to ask, and `build() -> SweepSpec`."""

    name: str
    title: str
    doc: str
    question: str
    build: Callable[[], SweepSpec]


def mlp_document(name: str, dataset: str, data_params: dict, widths: tuple[int, ...], activation: str,
                 output: dict, seed: int = 0, **training) -> Document:
    """Input -> Dense(width, activation) per hidden layer -> Output, on a dataset, as a document."""
    nodes = [{"id": "input", "type": "input", "params": {}}]
    nodes += [{"id": f"dense{i}", "type": "dense", "params": {"units": w, "activation": activation}}
              for i, w in enumerate(widths, start=1)]
    nodes.append({"id": "output", "type": "output", "params": output})
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]
    from dlbuilder.layout import auto_layout  # (layout only: where the Build page draws the nodes)

    return auto_layout(load_document({
        "schema_version": SCHEMA_VERSION, "name": name, "network": {"nodes": nodes, "edges": edges},
        "data": {"name": dataset, "params": data_params}, "training": training, "seed": seed}))


def chain_parameters(inputs: int, widths: tuple[int, ...], outputs: int) -> int:
    """Weights and biases of a Dense chain inputs -> widths... -> outputs."""
    sizes = (inputs, *widths, outputs)
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def widths_for_budget(inputs: int, outputs: int, depth: int, budget: int) -> tuple[int, ...]:
    """`depth` equal hidden widths whose chain has the parameter count nearest to `budget`."""
    best = min(range(1, 1025), key=lambda w: abs(chain_parameters(inputs, (w,) * depth, outputs) - budget))
    return (best,) * depth


# -- the sweeps ------------------------------------------------------------------------------------------------


def _hidden_layers() -> SweepSpec:
    # Lecture 002: views of the past 56 days; 2017-2020 to train, 2021 to test (a fifth of 2017-2021)
    data = {"window": 56, "train_fraction": 0.8, "val_fraction": 0.0, "noise": 10}
    # Measured (seed 2): training loss 0.090, 0.065, 0.039, 0.028 for 1-4 layers; test loss 0.268, 0.242,
    # 0.230, then 0.271 at 4 layers: the lecture's pattern (its 0.28k/0.43k ... 0.10k/0.44k).
    base = mlp_document("Views forecast, 100 ReLUs per layer", "daily_views", data, (100,), "relu",
                        {"task": "regression"}, seed=2, optimizer="adam", learning_rate=0.0003, batch_size=32,
                        epochs=40)
    return SweepSpec(base, (SweepAxis("depth", (1, 2, 3, 4)),))


def _fat_vs_thin() -> SweepSpec:
    budget = chain_parameters(2, (48,), 1)  # one layer of 48: 193 parameters
    shapes = tuple(widths_for_budget(2, 1, depth, budget) for depth in (1, 2, 3, 5))
    base = mlp_document("Same budget, different depth", "spiral", {"noise": 10}, shapes[0], "tanh",
                        {"task": "classification", "units": 1}, optimizer="adam", learning_rate=0.01,
                        batch_size=10, epochs=300)
    return SweepSpec(base, (SweepAxis("hidden_layers", shapes), SweepAxis("seed", (1, 2, 3))))


def _dropout() -> SweepSpec:
    # A wide net on noisy points overfits. Measured (seed 1): without dropout the validation loss climbs
    # from 0.35 (epoch 4) to 0.56; with p = 0.5 it stays near 0.36 and accuracy ends 85% against 80%.
    data = {"noise": 40, "num_samples": 1000, "train_fraction": 0.6, "val_fraction": 0.5}
    base = mlp_document("Wide net, noisy points", "circle", data, (128, 128), "relu",
                        {"task": "classification", "units": 1}, seed=1, optimizer="adam", learning_rate=0.01,
                        batch_size=10, epochs=150)
    return SweepSpec(base, (SweepAxis("dropout", (0.0, 0.5)),))


def _batchnorm() -> SweepSpec:
    # measured: without batch norm the loss stays at 0.69 (chance) for 60 epochs; with it, ~98% accuracy
    base = mlp_document("Deep sigmoid net", "circle", {"noise": 5}, (32,) * 8, "sigmoid",
                        {"task": "classification", "units": 1}, seed=1, optimizer="sgd", learning_rate=0.5,
                        batch_size=16, epochs=60)
    return SweepSpec(base, (SweepAxis("batchnorm", (False, True)),))


def _init() -> SweepSpec:
    base = mlp_document("Two tanh layers", "circle", {"noise": 5}, (8, 8), "tanh",
                        {"task": "classification", "units": 1}, seed=1, optimizer="sgd", learning_rate=0.1,
                        batch_size=10, epochs=100)
    return SweepSpec(base, (SweepAxis("init", ("zeros", "glorot_uniform")),))


LECTURE_SWEEPS: dict[str, LectureSweep] = {sweep.name: sweep for sweep in (
    LectureSweep("hidden_layers", "1 to 4 hidden layers (lecture 002's table)",
                 "Forecast tomorrow's views from the past 56 days with 1, 2, 3 and 4 hidden layers of 100 "
                 "ReLUs; train on 2017-2020, test on 2021. The table fills in as the runs finish.",
                 "Training loss falls with every layer we add. Why does the test loss go up at 4 layers?",
                 _hidden_layers),
    LectureSweep("fat_vs_thin", "Fat and shallow vs thin and deep",
                 "About 190 parameters each: one layer of 48, or 2, 3 or 5 narrower layers, three seeds "
                 "each, on the spiral.", "With the same number of weights, which shape learns the spiral "
                 "best? What goes wrong when the layers get very thin?", _fat_vs_thin),
    LectureSweep("dropout", "Dropout on / off",
                 "A wide network on a small noisy training set, with and without Dropout (p = 0.5), "
                 "from the same seed.", "Which curve turns up first, and what does dropout cost on the "
                 "training loss?", _dropout),
    LectureSweep("batchnorm", "Batch norm on / off in a deep sigmoid net",
                 "Eight sigmoid layers trained with plain SGD, with and without BatchNorm before each "
                 "sigmoid, from the same seed.", "Why does the net without batch norm barely move?",
                 _batchnorm),
    LectureSweep("init", "Zero vs Glorot initialisation",
                 "Two tanh layers started from all-zero weights, or from Glorot's uniform init.",
                 "If every weight starts at 0, how do the hidden units ever become different?", _init),
)}


def lecture_sweep(name: str) -> SweepSpec:
    """The sweep of one lecture experiment by name; KeyError lists the names."""
    if name not in LECTURE_SWEEPS:
        raise KeyError(f"unknown lecture sweep {name!r}: choose one of {', '.join(LECTURE_SWEEPS)}")
    return LECTURE_SWEEPS[name].build()

