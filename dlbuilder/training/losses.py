"""Losses, the targets each one needs, and the metric shown beside it (accuracy or R²)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

REGRESSION_LOSSES = ("mse", "mae", "huber")  # suggested in messages; half_mse fits too


class HalfMSELoss(nn.MSELoss):
    """TensorFlow Playground's squared error: the average of (prediction - target)^2 / 2."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 0.5 * super().forward(prediction, target)


@dataclass(frozen=True)
class LossSpec:
    """One entry of LOSSES: which problems it fits, and `build() -> (prediction, target) -> loss`."""

    name: str
    title: str
    doc: str
    problems: tuple[str, ...]  # "classification", "regression", "reconstruction"
    build: Callable[[], nn.Module]


LOSSES: dict[str, LossSpec] = {spec.name: spec for spec in (
    LossSpec("mse", "Mean squared error", "Average of (prediction - target)^2.",
             ("regression", "reconstruction", "classification"), nn.MSELoss),
    # Playground's Errors.SQUARE: half of mse, so its gradient is (p - t) and steps are half as long
    LossSpec("half_mse", "Half squared error (Playground's ½(p−t)²)", "Average of (prediction - "
             "target)^2 / 2, the loss TensorFlow Playground trains and reports; half of mse.",
             ("regression", "reconstruction", "classification"), HalfMSELoss),
    LossSpec("mae", "Mean absolute error", "Average of |prediction - target|; robust to outliers.",
             ("regression", "reconstruction", "classification"), nn.L1Loss),
    LossSpec("huber", "Huber", "Squared for small errors, absolute for large ones.",
             ("regression", "reconstruction", "classification"), nn.HuberLoss),
    LossSpec("cross_entropy", "Cross-entropy", "Softmax over class scores, then -log p(true class).",
             ("classification",), nn.CrossEntropyLoss),
    LossSpec("binary_cross_entropy", "Binary cross-entropy", "Sigmoid of one score, then -log p(true "
             "class); for two classes and 1 output unit.", ("classification",), nn.BCEWithLogitsLoss),
)}


def resolve_loss(name: str, problem: str, units: int) -> str:
    """The concrete loss for 'auto': cross-entropy for classes (binary with 1 unit), else MSE."""
    if name != "auto":
        return name
    if problem == "classification":
        return "binary_cross_entropy" if units == 1 else "cross_entropy"
    return "mse"


def loss_problem(name: str, problem: str, units: int, num_classes: int) -> str | None:
    """Why `name` cannot train this problem, with what to pick instead; None if it fits."""
    spec = LOSSES[name]
    if problem not in spec.problems:
        return (f"loss {name} needs a classification dataset, but this is {problem}: "
                f"pick {', '.join(REGRESSION_LOSSES)} (or auto)")
    if name == "binary_cross_entropy" and units != 1:
        return f"binary_cross_entropy needs an output with 1 unit (it has {units}): use cross_entropy"
    if name == "binary_cross_entropy" and num_classes != 2:
        return f"binary_cross_entropy is for 2 classes, this dataset has {num_classes}: use cross_entropy"
    if name == "cross_entropy" and units == 1:
        return "cross_entropy needs one output unit per class; with 1 unit use binary_cross_entropy"
    return None


def make_targets(loss: str, problem: str, units: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Targets in the form `loss` needs: class ids, 0/1 column, one-hot / ±1, values or the input."""
    if problem == "reconstruction":
        return x
    if problem == "regression":
        return y
    if loss == "cross_entropy":
        return y
    if loss == "binary_cross_entropy":
        return y.float().unsqueeze(-1)
    # Squared/absolute losses on classes: ±1 for one unit (as in Playground), one-hot otherwise.
    if units == 1:
        return (y.float() * 2 - 1).unsqueeze(-1)
    return F.one_hot(y, units).float()


def compute_loss(loss_fn: nn.Module, loss: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Apply `loss_fn`, folding a time axis into the batch for per-step class scores."""
    if loss == "cross_entropy" and prediction.dim() == 3:  # (B, T, C) against (B, T)
        return loss_fn(prediction.reshape(-1, prediction.shape[-1]), target.reshape(-1))
    return loss_fn(prediction, target)


def predicted_classes(loss: str, prediction: torch.Tensor) -> torch.Tensor:
    """Class ids from the network's output: threshold 0 for one unit, else the largest score."""
    if prediction.shape[-1] == 1:
        return (prediction[..., 0] > 0).long()
    return prediction.argmax(dim=-1)


def r_squared(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination over all values: 1 - SS_res / SS_tot."""
    residual = (prediction - target).square().sum()
    total = (target - target.mean()).square().sum()
    return float(1 - residual / total) if total > 0 else float("nan")
