"""Which runs of a sweep train together, and what the whole sweep costs (refused above a budget).

Runs that share one architecture and differ only in seed, learning rate, initialisation or L2 train
together in one NumPy computation batched over networks (`batched.py`) when the network is one the
NumPy fast path trains (a plain Dense chain on the CPU with SGD/momentum/Adam, see
`training/fastpath.py`). Every other run is a separate job.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

from dlbuilder.compile import checked_report
from dlbuilder.document import Document
from dlbuilder.experiments.spec import PlannedRun, SweepSpec, expand
from dlbuilder.inspection.companions import EPOCH_SECONDS, SECONDS_PER_WORK, UPDATE_SECONDS, train_examples
from dlbuilder.training import fastpath
from dlbuilder.training.device import pick_device
from dlbuilder.training.losses import resolve_loss
from dlbuilder.training.setup import load_bundle
from dlbuilder.validation import ValidationReport

# What runs trained together may differ in: each only changes the starting weights or a per-network
# number of the update (the data differ by seed too; the batched path keeps one copy per seed).
SHARED_EXCEPT = ("learning_rate", "init", "l2")
MAX_GROUP = 64
# CPU-seconds (one thread) a sweep may cost by the estimate: about five minutes of one core.
BUDGET_SECONDS = 300.0
# A separate run on the NumPy fast path takes ~0.2x of the cost model's time (inspection.companions measured
# it; here 1-4 layers of 100 ReLUs on daily views took 4.4 s against 62 s by the unscaled model).
FAST_PATH_SHARE = 0.2


class BudgetError(ValueError):
    """The sweep would cost more than its budget; the message says what to shrink."""


@dataclass(frozen=True)
class SweepPlan:
    """The runs, the groups trained together (run indices), the separate runs and the estimated cost."""

    spec: SweepSpec
    runs: tuple[PlannedRun, ...]
    groups: tuple[tuple[int, ...], ...]
    separate: tuple[int, ...]
    estimated_seconds: float

    def run(self, index: int) -> PlannedRun:
        return self.runs[index - 1]

    def describe(self) -> str:
        """One line for the page: runs, how many train together, the estimate."""
        together = sum(len(g) for g in self.groups)
        how = (f"{together} trained together in {len(self.groups)} vectorised group"
               f"{'s' if len(self.groups) != 1 else ''}" if self.groups else "none vectorised")
        return (f"{len(self.runs)} runs of {self.runs[0].document.training['epochs']} epochs: {how}, "
                f"{len(self.separate)} as separate jobs; about {self.estimated_seconds:.0f} s of CPU by the estimate")


def batchable(document: Document, report: ValidationReport | None = None) -> bool:
    """Whether the NumPy fast path can train `document` (checked again, exactly, when it starts)."""
    settings = document.training
    if settings["optimizer"] not in fastpath.OPTIMIZERS or document.data is None:
        return False
    report = report or checked_report(document)
    nodes = {n.id: n for n in document.nodes}
    if any(n.type not in ("input", "dense", "output") for n in document.nodes) or len(document.edges) != len(nodes) - 1:
        return False
    if any(n.params.get("activation", "identity") not in fastpath.ACTIVATIONS or not n.params.get("bias", True)
           for n in document.nodes if n.type != "input"):
        return False
    info, output = report.data_info, next(n for n in document.nodes if n.type == "output")
    if (info is None or info.input_dtype != "float" or len(info.input_shape) != 1 or info.target_steps
            or info.more_inputs):
        return False
    task, units = report.params[output.id]["task"], report.shapes[output.id].shape[-1]
    if task == "reconstruction" or resolve_loss(settings["loss"], task, units) not in fastpath.LOSSES:
        return False
    work = settings["batch_size"] * (report.total_params + sum(s.numel for s in report.shapes.values()))
    try:
        return pick_device(settings["device"], work).type == "cpu"
    except ValueError:
        return False


def group_key(document: Document) -> str:
    """Equal for documents that may train together: all but seed, learning rate, init and L2 alike."""
    plain = copy.deepcopy(document)
    plain.seed, plain.name = 0, ""
    for name in SHARED_EXCEPT:
        plain.training[name] = None
    for node in plain.nodes:
        node.position = None
    return json.dumps(plain.to_dict(), sort_keys=True)


def group_runs(runs: list[PlannedRun]) -> tuple[list[tuple[int, ...]], list[int]]:
    """(groups of run indices trained together, each of 2 or more; the remaining run indices)."""
    buckets: dict[str, list[int]] = {}
    separate = []
    for run in runs:
        if batchable(run.document, run.report):
            buckets.setdefault(group_key(run.document), []).append(run.index)
        else:
            separate.append(run.index)
    groups = []
    for indices in buckets.values():
        if len(indices) == 1:
            separate.append(indices[0])
        else:
            groups += [tuple(indices[i:i + MAX_GROUP]) for i in range(0, len(indices), MAX_GROUP)]
    return groups, sorted(separate)


def run_seconds(document: Document, examples: int, runs: int = 1, report: ValidationReport | None = None) -> float:
    """The cost model's CPU seconds for `runs` networks of `document` trained together (1: alone) on
    `examples` training examples.

    Per update a fixed overhead shared by the whole group, per example each network's forward and backward
    work, per epoch each network's scoring (the constants of `inspection.companions`, measured on one thread).
    """
    report = report or checked_report(document)
    per_example = report.total_params + sum(spec.numel for spec in report.shapes.values())
    updates = math.ceil(examples / max(1, min(document.training["batch_size"], examples)))
    per_epoch = updates * UPDATE_SECONDS + runs * (examples * per_example * SECONDS_PER_WORK + EPOCH_SECONDS)
    return document.training["epochs"] * per_epoch


def plan_sweep(spec: SweepSpec, budget_seconds: float = BUDGET_SECONDS) -> SweepPlan:
    """Expand and group the runs and estimate the cost; SweepError / BudgetError saying what to change."""
    runs = expand(spec)
    groups, separate = group_runs(runs)
    # every run trains on as many examples (the axes never change the data's settings)
    examples = train_examples(runs[0].document, load_bundle(runs[0].document))
    seconds = sum(run_seconds(runs[i - 1].document, examples, report=runs[i - 1].report)
                  * (FAST_PATH_SHARE if batchable(runs[i - 1].document, runs[i - 1].report) else 1.0) for i in separate)
    seconds += sum(run_seconds(runs[g[0] - 1].document, examples, len(g), runs[g[0] - 1].report) for g in groups)
    if seconds > budget_seconds:
        epochs = runs[0].document.training["epochs"]
        fit = max(0, int(epochs * budget_seconds / seconds))
        shrink = f"use at most {fit} epochs per run, " if fit >= 1 else ""
        raise BudgetError(f"{len(runs)} runs of {epochs} epochs would take about {seconds:.0f} s of CPU by the "
                          f"estimate, over the {budget_seconds:.0f} s a sweep may take here: {shrink}fewer "
                          "values, or a smaller network or training set")
    return SweepPlan(spec, tuple(runs), tuple(groups), tuple(separate), seconds)
