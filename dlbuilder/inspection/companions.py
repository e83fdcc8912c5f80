"""Companion runs for the landscape's shared PCA plane: the job's network trained again with other
seeds ("different starts reach different minima") or with other optimizers from the same start.

Each companion is a real `Trainer` run of a copy of the job's document, on the CPU, in the caller's
thread, on the job's own data (so the plane's loss is every run's loss). Its snapshots have the
trainer's format, (epoch, flat float32 weights) from epoch 0, so `pca_plane` takes them beside the
job's. The cost is estimated before anything trains and refused above `BUDGET_SECONDS`, with what to
shrink; the first run's measured pace is checked against the same budget.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

from dlbuilder.compile import checked_report
from dlbuilder.datasets.base import DatasetBundle
from dlbuilder.document import Document
from dlbuilder.inspection.run_paths import RunPath, bounded_path, document_shapes
from dlbuilder.training.device import set_worker_threads
from dlbuilder.training.optim import OPTIMIZERS
from dlbuilder.training.setup import load_bundle
from dlbuilder.training.trainer import SNAPSHOT_MAX_PARAMETERS, Diverged, Trainer

VARIANTS = {"seeds": "other seeds", "optimizers": "other optimizers from the same start"}
RACE = ("sgd", "momentum", "rmsprop", "adam")  # as in the linear model's optimizer race
ADAPTIVE = {"adagrad", "rmsprop", "adam", "adamw"}  # step about lr per weight, whatever the gradient's size
# Plain SGD needs a learning rate ~10x an adaptive optimizer's for a similar pace (the usual defaults:
# SGD 0.01, Adam 0.001). Measured, 200 epochs of Playground (SGD 0.03) and 30 of lenet (Adam 0.005):
# SGD, momentum, RMSprop and Adam at these rates all trained without diverging.
ADAPTIVE_RATIO = 10.0
MAX_SEEDS = 6
# Companions must finish within about a minute on one CPU thread; the estimate came out up to 1.2x low
# (lenet), so it is held to 50 s: 3 lenet seeds capped at 248 epochs of a 60 s budget took 63 s of CPU.
BUDGET_SECONDS = 50.0
# The cost model (one CPU thread, measured on the presets): each update costs a fixed framework
# overhead, each training example its forward and backward work, each epoch its scoring. Measured
# epochs took 0.2-1.1x of it (0.2x: Playground's NumPy path). Its work per example is low for
# convolutions on large images, so the first run's pace is measured too (`_Pace`).
UPDATE_SECONDS = 0.5e-3
EPOCH_SECONDS = 3e-3
SECONDS_PER_WORK = 12e-9  # per (example x (parameters + activation values)), forward + backward
PACE_SECONDS = 2.0  # CPU seconds of the first run (or its first epoch) before its pace is projected
OVERRUN = 1.5  # a measured pace may exceed the budget by this factor before the runs are refused
REPORT_SECONDS = 0.1  # progress (and so a cancel) is checked this often


@dataclass(frozen=True)
class CompanionPlan:
    """What `train_companions` will train: (label, document) pairs, epochs each, and the estimate."""

    variant: str
    runs: tuple[tuple[str, Document], ...]
    epochs: int
    estimated_seconds: float


# -- the companions ---------------------------------------------------------------------------------------


def race_learning_rates(settings: dict) -> dict[str, float]:
    """A learning rate per optimizer of the race, scaled from the document's own optimizer and rate."""
    rate = settings["learning_rate"]
    if settings["optimizer"] in ADAPTIVE:
        adaptive, plain = rate, rate * ADAPTIVE_RATIO
    else:
        adaptive, plain = rate / ADAPTIVE_RATIO, rate
    return {name: adaptive if name in ADAPTIVE else plain for name in RACE}


def _variant(document: Document, seed: int | None = None, optimizer: str | None = None,
             learning_rate: float | None = None) -> Document:
    variant = copy.deepcopy(document)
    variant.training.update(device="cpu", mixed_precision=False)
    if seed is not None:
        variant.seed = seed % 2**31
    if optimizer is not None:
        variant.training.update(optimizer=optimizer, learning_rate=learning_rate)
    return variant


def companion_documents(document: Document, variant: str, runs: int = 3) -> list[tuple[str, Document]]:
    """(label, document) per companion: seeds seed+1.. (`runs` of them), or the race's optimizers.

    The race keeps the document's seed, so every optimizer starts from the same weights and sees
    the same batches; an optimizer the job already used at the same rate is left out (it is "this run").
    """
    if variant == "seeds":
        if not 1 <= runs <= MAX_SEEDS:
            raise ValueError(f"train 1 to {MAX_SEEDS} other seeds, not {runs}")
        seeds = [document.seed + k for k in range(1, runs + 1)]
        return [(f"seed {seed % 2**31}", _variant(document, seed=seed)) for seed in seeds]
    if variant == "optimizers":
        own = (document.training["optimizer"], document.training["learning_rate"])
        rates = race_learning_rates(document.training)
        return [(f"{OPTIMIZERS[name].title}, lr {rate:.3g}", _variant(document, optimizer=name, learning_rate=rate))
                for name, rate in rates.items() if (name, rate) != own]
    raise ValueError(f"unknown companion variant {variant!r}: choose one of {', '.join(VARIANTS)}")


# -- the cost, bounded before anything trains ------------------------------------------------------------


def train_examples(document: Document, bundle: DatasetBundle) -> int:
    """How many examples one epoch trains on (the `subset` setting applied)."""
    subset = document.training["subset"]
    return min(subset, len(bundle.x_train)) if subset else len(bundle.x_train)


def epoch_seconds(document: Document, examples: int) -> float:
    """The cost model's seconds for one epoch of `document` on `examples` training examples."""
    report = checked_report(document)
    # multiply-adds of one example's forward pass, roughly: the estimate `training.setup.prepare` uses
    per_example = report.total_params + sum(spec.numel for spec in report.shapes.values())
    updates = math.ceil(examples / max(1, min(document.training["batch_size"], examples)))
    return updates * UPDATE_SECONDS + examples * per_example * SECONDS_PER_WORK + EPOCH_SECONDS


def affordable_epochs(document: Document, bundle: DatasetBundle, runs: int,
                      budget_seconds: float = BUDGET_SECONDS) -> int:
    """The most epochs each of `runs` companions can train within the budget (0: not even one)."""
    per_epoch = epoch_seconds(document, train_examples(document, bundle))
    return int(budget_seconds // (per_epoch * max(runs, 1)))


def plan_companions(document: Document, variant: str, epochs: int, runs: int = 3, bundle: DatasetBundle | None = None,
                    budget_seconds: float = BUDGET_SECONDS) -> CompanionPlan:
    """The companions to train and their estimated cost; ValueError saying what to shrink when over budget."""
    if epochs < 1:
        raise ValueError("the companions need at least 1 epoch: train this run for an epoch first")
    bundle = bundle or load_bundle(document)
    documents = tuple(companion_documents(document, variant, runs))
    if checked_report(document).total_params > SNAPSHOT_MAX_PARAMETERS:
        raise ValueError(f"the trainer keeps no weight path for networks over {SNAPSHOT_MAX_PARAMETERS:,} "
                         "parameters, so companions cannot be drawn: use a smaller network")
    examples = train_examples(document, bundle)
    seconds = len(documents) * epochs * epoch_seconds(document, examples)
    if seconds > budget_seconds:
        most = affordable_epochs(document, bundle, len(documents), budget_seconds)
        shrink = (f"train at most {most} epochs each, or fewer runs" if most >= 1 else
                  f"even one epoch of {len(documents)} runs is too much: use fewer runs, a smaller network "
                  f"or the 'subset' setting (now {examples:,} training examples)")
        raise ValueError(f"{len(documents)} runs of {epochs} epochs would take about {seconds:.0f} s on one CPU "
                         f"thread, over the {budget_seconds:.0f} s allowed here: {shrink}")
    return CompanionPlan(variant, documents, epochs, seconds)


# -- training --------------------------------------------------------------------------------------------


def train_companions(document: Document, variant: str, epochs: int | None = None, runs: int = 3,
                     bundle: DatasetBundle | None = None, reporter=None,
                     budget_seconds: float = BUDGET_SECONDS) -> list[RunPath]:
    """Train the companions of `document` (its `epochs` by default) and return their paths.

    All train on `bundle` (the job's data; generated from the document's seed when None), so other
    seeds change only the initial weights and the batch order. `reporter` (see `dlbuilder.tasks`)
    gets `progress(done, total, message)`, which raises once the student cancels, and
    `partial(paths so far)` after each run.
    """
    set_worker_threads()  # one CPU thread, as training jobs use
    bundle = bundle or load_bundle(document)
    epochs = document.training["epochs"] if epochs is None else epochs
    plan = plan_companions(document, variant, epochs, runs, bundle, budget_seconds)
    shapes = document_shapes(document)
    examples = train_examples(document, bundle)
    per_run = epochs * math.ceil(examples / max(1, min(document.training["batch_size"], examples)))
    paths: list[RunPath] = []
    pace = _Pace(len(plan.runs), epochs, per_run, budget_seconds)
    for index, (label, companion) in enumerate(plan.runs):
        progress = _Progress(reporter, index * per_run, len(plan.runs) * per_run, label, epochs)
        snapshots, note = _train(companion, bundle, epochs, progress, pace)
        paths.append(bounded_path(label, snapshots, shapes, note))
        if reporter is not None:
            reporter.partial(list(paths))
    return paths


class _Progress:
    """Reports updates done over all runs, at most every REPORT_SECONDS (each report may cancel)."""

    def __init__(self, reporter, offset: int, total: int, label: str, epochs: int):
        self.reporter, self.offset, self.total, self.label, self.epochs = reporter, offset, total, label, epochs
        self.last = 0.0

    def __call__(self, trainer: Trainer, force: bool = False) -> None:
        now = time.monotonic()
        if self.reporter is None or (not force and now - self.last < REPORT_SECONDS):
            return
        self.last = now
        done = min(self.offset + trainer.step_count, self.total)
        self.reporter.progress(done, self.total, f"{self.label}: epoch {trainer.epoch}/{self.epochs}")


class _Pace:
    """The first run's measured pace, projected over all runs: refused when far over the budget."""

    def __init__(self, runs: int, epochs: int, updates_per_run: int, budget_seconds: float):
        self.runs, self.epochs, self.total, self.budget = runs, epochs, runs * updates_per_run, budget_seconds
        self.started: float | None = None
        self.checked = False

    def start(self) -> None:
        """The clock starts once the first run's trainer is built: the first update's warm-up counts."""
        if self.started is None:
            self.started = time.thread_time()  # this thread's CPU time: other load on the server does not count

    def __call__(self, trainer: Trainer, run_ended: bool = False) -> None:
        if self.checked:
            return
        spent = time.thread_time() - self.started
        if spent < PACE_SECONDS and not run_ended:
            return
        self.checked = True
        projected = spent * self.total / max(trainer.step_count, 1)
        if projected > self.budget * OVERRUN:
            most = int(self.epochs * self.budget / projected)
            shrink = f"train at most {most} epochs each, or fewer runs" if most >= 1 else "use a smaller network"
            raise ValueError(f"measured on the first run: {self.runs} runs of {self.epochs} epochs would take "
                             f"about {projected:.0f} s on one CPU thread, over the {self.budget:.0f} s allowed here: "
                             f"{shrink}")


def _train(document: Document, bundle: DatasetBundle, epochs: int, progress: _Progress,
           pace: _Pace) -> tuple[list, str]:
    """One companion with the engine's Trainer, for `epochs` epochs (fewer if it stops early or diverges).

    The document keeps its own epoch count, so its learning-rate schedule is the job's.
    """
    trainer = Trainer(document, device="cpu", bundle=bundle)
    pace.start()
    note = ""
    progress(trainer, force=True)
    try:
        while trainer.epoch < epochs and trainer.step():
            progress(trainer)
            pace(trainer)
    except Diverged:
        note = f"diverged in epoch {trainer.epoch + 1}"
    pace(trainer, run_ended=True)
    if not note and trainer.done and trainer.epoch < epochs:
        note = f"stopped early at epoch {trainer.epoch}"
    progress(trainer, force=True)
    return trainer.metrics.snapshots(), note
