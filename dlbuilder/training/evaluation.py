"""Scoring a model on a split, and per-layer weight and gradient norms."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlbuilder.training.losses import compute_loss, predicted_classes, r_squared
from dlbuilder.training.sequence_metrics import sequence_accuracy, token_accuracy

CHUNK = 2048  # examples per forward pass while scoring, at most
# Values one scoring forward pass may hold (float32: 256 MB). A network of 2 M values per
# example scores 33 examples at a time instead of 2,048 (16 GB).
EVAL_VALUES = 64 * 1024 ** 2


@dataclass(frozen=True)
class Score:
    loss: float
    metric: float | None  # accuracy (classification) or R² (regression, reconstruction)
    # Per-step class targets (tagging, seq2seq): share of whole sequences right at every real step
    # (with teacher forcing for seq2seq); `metric` is then the token accuracy over real steps.
    sequence_metric: float | None = None


def chunk_size(model: nn.Module) -> int:
    """Examples per scoring forward pass: CHUNK, fewer when one example makes many values."""
    values = getattr(model, "values_per_example", 0)  # set by compile_graph from the shapes
    return max(1, min(CHUNK, EVAL_VALUES // values)) if values > 0 else CHUNK


@torch.no_grad()
def predict(model: nn.Module, x, autocast=None, chunk: int | None = None) -> torch.Tensor:
    """The model's outputs in eval mode, in memory-bounded chunks (restores train mode).

    `x` is one tensor, or a tuple with one tensor per network input (seq2seq: source, decoder
    input); every input is cut with the same rows.
    """
    chunk = chunk or chunk_size(model)
    inputs = (x,) if isinstance(x, torch.Tensor) else tuple(x)
    was_training = model.training
    model.eval()
    try:
        outputs = []
        for start in range(0, len(inputs[0]), chunk):
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                outputs.append(model(*(part[start:start + chunk] for part in inputs)).float())
        return torch.cat(outputs)
    finally:
        model.train(was_training)


def evaluate(setup, split) -> Score:
    """Mean loss and metric of the model on one split (an empty split gives NaN).

    Per-step class targets (y of shape (N, T), IGNORE_INDEX at padding) score token accuracy over
    real steps and, as `sequence_metric`, the share of sequences right at every step.
    """
    if len(split) == 0:
        return Score(float("nan"), None)
    prediction = predict(setup.model, split.inputs if split.more_x else split.x, setup.autocast)
    loss = float(compute_loss(setup.loss_fn, setup.loss, prediction, split.t))
    if setup.problem != "classification":
        return Score(loss, r_squared(prediction, split.t))
    predicted = predicted_classes(setup.loss, prediction)
    if split.y.dim() == 2:  # one class per step
        return Score(loss, token_accuracy(predicted, split.y), sequence_accuracy(predicted, split.y))
    return Score(loss, float((predicted == split.y).float().mean()))


def layer_norms(model: nn.Module) -> tuple[dict[str, float], dict[str, float]]:
    """L2 norm of each node's weights and of their latest gradients (one entry per node id)."""
    names, params = [], []
    for name, module in model.named_children():
        for param in module.parameters():
            names.append(name)
            params.append(param.detach())
    if not params:
        return {}, {}
    weight = torch.stack(torch._foreach_norm(params)).float().tolist()
    grads = [p.grad for p in model.parameters()]
    grad = (torch.stack(torch._foreach_norm([g for g in grads if g is not None])).float().tolist()
            if all(g is not None for g in grads) else [0.0] * len(params))
    return _per_node(names, weight), _per_node(names, grad)


def _per_node(names: list[str], norms: list[float]) -> dict[str, float]:
    squares: dict[str, float] = {}
    for name, norm in zip(names, norms):
        squares[name] = squares.get(name, 0.0) + norm * norm
    return {name: value ** 0.5 for name, value in squares.items()}
