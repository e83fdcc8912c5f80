"""Tensor specs: the shape of one example flowing along an edge, and how to say it in words."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    """One example's shape (no batch dimension) and whether it holds floats or token ids."""

    shape: tuple[int, ...]
    dtype: str = "float"  # "float" | "long"
    vocab_size: int = 0  # "long" only: token ids are in [0, vocab_size)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def describe(self) -> str:
        """Say what this is in a student's words ("an image (C,H,W) = (6, 4, 4)")."""
        dims = ", ".join(str(d) for d in self.shape)
        if self.dtype == "long":
            return f"token ids of length {dims} (vocabulary {self.vocab_size})"
        if self.rank == 1:
            return f"a vector of {self.shape[0]}"
        if self.rank == 2:
            return f"a sequence (T,F) = ({dims})"
        if self.rank == 3:
            return f"an image (C,H,W) = ({dims})"
        return f"a tensor of shape ({dims})"

    def label(self) -> str:
        """Short form for diagrams: "(6, 4, 4)"."""
        inner = ", ".join(str(d) for d in self.shape)
        return f"({inner},)" if self.rank == 1 else f"({inner})"


class ShapeError(ValueError):
    """A layer cannot take the shape it receives; the message says what to change."""


def require_float(spec: TensorSpec, what: str) -> None:
    """Raise ShapeError if `spec` holds token ids where numbers are needed."""
    if spec.dtype == "long":
        raise ShapeError(f"expects numbers but receives {spec.describe()}: add an Embedding first")


def require_rank(spec: TensorSpec, ranks: tuple[int, ...], wanted: str, fix: str) -> None:
    """Raise ShapeError unless `spec` has one of `ranks`; `wanted` and `fix` go in the message."""
    require_float(spec, wanted)
    if spec.rank not in ranks:
        raise ShapeError(f"expects {wanted} but receives {spec.describe()}: {fix}")
