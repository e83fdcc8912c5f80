"""Optimizers and learning-rate schedules, built from the document's training settings."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

Settings = dict


@dataclass(frozen=True)
class OptimizerSpec:
    """One entry of OPTIMIZERS: a title, a doc and `build(parameters, settings)`."""

    name: str
    title: str
    doc: str
    build: Callable[[list, Settings], torch.optim.Optimizer]


def _sgd(momentum: bool, nesterov: bool = False):
    def build(params: list, s: Settings) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=s["learning_rate"], momentum=s["momentum"] if momentum else 0.0,
                               nesterov=nesterov and s["momentum"] > 0, foreach=True)
    return build


OPTIMIZERS: dict[str, OptimizerSpec] = {spec.name: spec for spec in (
    OptimizerSpec("sgd", "SGD", "w -= lr * gradient.", _sgd(False)),
    OptimizerSpec("momentum", "SGD + momentum", "Keeps a velocity: past gradients keep pushing.",
                  _sgd(True)),
    OptimizerSpec("nesterov", "Nesterov", "Momentum that looks ahead before taking the gradient.",
                  _sgd(True, nesterov=True)),
    OptimizerSpec("adagrad", "Adagrad", "Per-weight steps shrink with the sum of past squared gradients.",
                  lambda p, s: torch.optim.Adagrad(p, lr=s["learning_rate"], foreach=True)),
    OptimizerSpec("rmsprop", "RMSprop", "Per-weight steps scaled by a moving average of squared gradients.",
                  lambda p, s: torch.optim.RMSprop(p, lr=s["learning_rate"], alpha=min(s["beta2"], 0.999),
                                                        foreach=True)),
    OptimizerSpec("adam", "Adam", "Momentum plus RMSprop-style scaling, with bias correction.",
                  lambda p, s: torch.optim.Adam(p, lr=s["learning_rate"], betas=(s["beta1"], s["beta2"]),
                                                foreach=True)),
    OptimizerSpec("adamw", "AdamW", "Adam with decoupled weight decay (the L2 setting).",
                  lambda p, s: torch.optim.AdamW(p, lr=s["learning_rate"], betas=(s["beta1"], s["beta2"]),
                                                 weight_decay=s["l2"], foreach=True)),
)}


@dataclass(frozen=True)
class ScheduleSpec:
    """One entry of SCHEDULES: `build(optimizer, settings)`, stepped once per epoch."""

    name: str
    title: str
    doc: str
    build: Callable[[torch.optim.Optimizer, Settings], object | None]


SCHEDULES: dict[str, ScheduleSpec] = {spec.name: spec for spec in (
    ScheduleSpec("constant", "Constant", "The learning rate never changes.", lambda o, s: None),
    ScheduleSpec("step", "Step", "Multiply by gamma every step_size epochs.",
                 lambda o, s: torch.optim.lr_scheduler.StepLR(o, s["step_size"], s["gamma"])),
    ScheduleSpec("exponential", "Exponential", "Multiply by gamma after every epoch.",
                 lambda o, s: torch.optim.lr_scheduler.ExponentialLR(o, s["gamma"])),
    ScheduleSpec("cosine", "Cosine", "Glide down along a half cosine to ~0 at the last epoch.",
                 lambda o, s: torch.optim.lr_scheduler.CosineAnnealingLR(o, max(1, s["epochs"]))),
    ScheduleSpec("plateau", "Halve on plateau", "Multiply by plateau_factor when validation loss stops "
                 "improving for plateau_patience epochs.",
                 lambda o, s: torch.optim.lr_scheduler.ReduceLROnPlateau(
                     o, factor=s["plateau_factor"], patience=s["plateau_patience"])),
)}


def step_schedule(schedule, monitored_loss: float) -> None:
    """Advance a schedule by one epoch (plateau schedules read the monitored loss)."""
    if schedule is None:
        return
    with warnings.catch_warnings():
        # The NumPy fast path updates weights without optimizer.step(); the schedule is still right.
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
        if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            schedule.step(monitored_loss)
        else:
            schedule.step()
