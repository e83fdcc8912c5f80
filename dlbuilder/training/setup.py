"""Everything a run needs, prepared from a document: data on the device, model, optimizer, loss."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from dlbuilder.compile import checked_report, compile_graph
from dlbuilder.datasets import DATASETS
from dlbuilder.datasets.base import DatasetBundle
from dlbuilder.document import Document
from dlbuilder.training.device import describe_device, pick_device
from dlbuilder.training.init import initialise
from dlbuilder.training.losses import LOSSES, make_targets, resolve_loss
from dlbuilder.training.optim import OPTIMIZERS, SCHEDULES, step_schedule

# Examples of the training set scored each epoch (all when fewer): scoring 4,096 digits took
# ~13% of an epoch; 512 keep accuracy to about ±2% at a quarter of the cost.
EVAL_LIMIT = 512
# Without a validation split the test split is scored each epoch (Playground's test loss): in full
# while that costs at most this many multiply-adds (~10 ms on one CPU thread; every 2-D set's test
# split on a Playground-sized net), else its first examples up to that cost, and at least EVAL_LIMIT.
TEST_EVAL_WORK = 20_000_000


class TrainingError(ValueError):
    """The run cannot start; the message says what to change."""


@dataclass
class Split:
    """One part of the data on the device: inputs, loss targets, and class ids (classification)."""

    x: torch.Tensor
    t: torch.Tensor
    y: torch.Tensor
    more_x: tuple[torch.Tensor, ...] = ()  # the network's further inputs (seq2seq: decoder input)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """Every network input, in the network's order: model(*split.inputs)."""
        return (self.x, *self.more_x)

    def head(self, count: int) -> "Split":
        """The first `count` examples (all when fewer)."""
        return Split(self.x[:count], self.t[:count], self.y[:count], tuple(m[:count] for m in self.more_x))


@dataclass
class Setup:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object | None
    loss_fn: nn.Module
    loss: str
    problem: str  # classification | regression | reconstruction
    device: torch.device
    settings: dict
    splits: dict[str, Split]
    info: dict = field(default_factory=dict)
    bundle: DatasetBundle | None = None  # the generated data as made (CPU), for views and previews
    mixed_precision: bool = False
    penalised: list[torch.Tensor] = field(default_factory=list)

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.problem == "classification" else "r2"

    @property
    def num_train(self) -> int:
        return len(self.splits["train"])

    @property
    def has_penalty(self) -> bool:
        return bool(self.penalised) and (self.settings["l1"] > 0 or self.l2_in_loss > 0)

    @property
    def l2_in_loss(self) -> float:
        return 0.0 if self.settings["optimizer"] == "adamw" else self.settings["l2"]  # AdamW decays itself

    def penalty(self) -> torch.Tensor:
        """L1 * sum|w| + L2 * sum w^2 over weight matrices (biases and norm scales are not penalised)."""
        total = torch.zeros((), device=self.device)
        if self.settings["l1"] > 0:
            total = total + self.settings["l1"] * sum(w.abs().sum() for w in self.penalised)
        if self.l2_in_loss > 0:
            total = total + self.l2_in_loss * sum(w.square().sum() for w in self.penalised)
        return total

    def autocast(self):
        if self.mixed_precision:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step_schedule(self, monitored_loss: float) -> None:
        step_schedule(self.schedule, monitored_loss)


def load_bundle(document: Document) -> DatasetBundle:
    """Generate (or read from the cache) the document's dataset."""
    if document.data is None:
        raise TrainingError("no dataset is chosen: pick one before training")
    return DATASETS[document.data.name].load(document.data.params, document.seed)


def prepare(document: Document, device: str | None = None, bundle: DatasetBundle | None = None) -> Setup:
    """Validate, load data, build and initialise the model, optimizer, schedule and loss."""
    report = checked_report(document)
    settings = dict(document.training)
    # multiply-adds of one example's forward pass, roughly (close for Dense chains, low for convolutions)
    per_example = report.total_params + sum(spec.numel for spec in report.shapes.values())
    work = settings["batch_size"] * per_example  # per update: decides whether a GPU pays off
    try:
        target_device = pick_device(device or settings["device"], work)
    except ValueError as error:
        raise TrainingError(str(error)) from None
    bundle = bundle or load_bundle(document)
    output = next(n for n in document.nodes if n.type == "output")
    problem = report.params[output.id]["task"]
    units = report.shapes[output.id].shape[-1]
    loss = resolve_loss(settings["loss"], problem, units)
    torch.manual_seed(document.seed)
    model = compile_graph(document)  # initialised on the CPU: the same seed gives the same start anywhere
    initialise(model, settings["init"])
    model.to(target_device)
    test_limit = max(EVAL_LIMIT, TEST_EVAL_WORK // max(per_example, 1))
    splits = _splits(bundle, settings, loss, problem, units, target_device, test_limit)
    optimizer = OPTIMIZERS[settings["optimizer"]].build(list(model.parameters()), settings)
    mixed = settings["mixed_precision"] and target_device.type == "cuda" and torch.cuda.is_bf16_supported()
    info = {**describe_device(target_device), "parameters": report.total_params, "work_per_update": work,
            "loss": loss, "problem": problem, "metric": "accuracy" if problem == "classification" else "r2",
            "train_examples": len(splits["train"]), "val_examples": len(splits["val"]),
            "test_examples": len(splits["test"]), "test_eval_examples": len(splits["test_eval"]),
            "mixed_precision": mixed}
    return Setup(model=model, optimizer=optimizer, schedule=SCHEDULES[settings["schedule"]].build(optimizer, settings),
                 loss_fn=LOSSES[loss].build(), loss=loss, problem=problem, device=target_device,
                 settings=settings, splits=splits, info=info, bundle=bundle, mixed_precision=mixed,
                 penalised=[p for p in model.parameters() if p.dim() >= 2])


def _splits(bundle: DatasetBundle, settings: dict, loss: str, problem: str, units: int,
            device: torch.device, test_limit: int) -> dict[str, Split]:
    splits = {}
    for name in ("train", "val", "test"):
        x, y, more = getattr(bundle, f"x_{name}"), getattr(bundle, f"y_{name}"), bundle.more_x.get(name, ())
        if name == "train" and settings["subset"]:
            count = settings["subset"]
            x, y, more = x[:count], y[:count], tuple(m[:count] for m in more)
        x, y = x.to(device), y.to(device)
        splits[name] = Split(x, make_targets(loss, problem, units, x, y), y, tuple(m.to(device) for m in more))
    if len(splits["train"]) == 0:
        raise TrainingError("the training set is empty: use more examples or a larger train fraction")
    splits["train_eval"] = splits["train"].head(EVAL_LIMIT)
    splits["test_eval"] = splits["test"].head(test_limit)  # scored each epoch when there is no validation split
    return splits
