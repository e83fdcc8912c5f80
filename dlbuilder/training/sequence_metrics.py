"""Scores for per-step targets (tagging, seq2seq): padded positions never count.

Targets are (N, T) class ids with IGNORE_INDEX (-100) at padding (datasets/tokens.py);
predictions are (N, T) class ids of the same shape.
"""

from __future__ import annotations

import torch

from dlbuilder.datasets.tokens import IGNORE_INDEX


def token_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of real (unpadded) positions predicted right; NaN when there are none."""
    real = targets != IGNORE_INDEX
    count = int(real.sum())
    if count == 0:
        return float("nan")
    return float(((predicted == targets) & real).sum()) / count


def exact_matches(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(N,) bool: every real position of the row is right (padding may hold anything).

    A seq2seq target ends with <end>, so a prediction that stops early or late differs at
    that position and is not a match.
    """
    return ((predicted == targets) | (targets == IGNORE_INDEX)).all(dim=-1)


def sequence_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of whole sequences predicted right at every real position (exact match); NaN for none."""
    if len(targets) == 0:
        return float("nan")
    return float(exact_matches(predicted, targets).float().mean())
