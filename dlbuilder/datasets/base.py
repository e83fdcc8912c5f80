"""The dataset interface: what every entry of `DATASETS` describes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from dlbuilder.datasets.tokens import Vocabulary
from dlbuilder.params import Param

TASKS = ("classification", "regression")
DISPLAYS = ("points2d", "curve1d", "series", "image", "table", "sequence")


@dataclass(frozen=True)
class InputInfo:
    """One network input: shape of one example, dtype and, for token ids, their vocabulary."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float"  # "float" | "long" (token ids)
    vocabulary: Vocabulary | None = None  # "long" only

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary) if self.vocabulary else 0


@dataclass(frozen=True)
class DataInfo:
    """What a dataset looks like, known without generating it (used to size and check networks)."""

    input_shape: tuple[int, ...]  # one example, no batch dimension
    task: str  # "classification" | "regression"
    num_classes: int = 0  # classification only
    num_targets: int = 1  # regression only: values per example
    input_dtype: str = "float"  # "float" | "long" (token ids)
    vocab_size: int = 0  # for "long" inputs
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    display: str = "table"  # how a preview should draw it: one of DISPLAYS
    vocabulary: Vocabulary | None = None  # "long" inputs: the token of each id (len == vocab_size)
    # > 0: one class per time step; y is (N, target_steps) long with IGNORE_INDEX (-100) at padding
    target_steps: int = 0
    more_inputs: tuple[InputInfo, ...] = ()  # inputs after the first, in the network's order (seq2seq)
    # seq2seq: per-step targets are ids of this vocabulary (class_names == its tokens); None otherwise
    target_vocabulary: Vocabulary | None = None

    def inputs(self) -> tuple[InputInfo, ...]:
        """Every input the network takes, the first one (input_shape, input_dtype) included."""
        first = InputInfo("input", self.input_shape, self.input_dtype, self.vocabulary)
        return (first, *self.more_inputs)


class DatasetError(ValueError):
    """A dataset cannot be made with these settings; the message says what to change."""


@dataclass
class DatasetBundle:
    """A generated dataset, already in tensors: x (N, *input_shape); y (N,) long or (N, T) float."""

    info: DataInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    extras: dict = field(default_factory=dict)  # display hints, e.g. raw 2-D points before features
    # split ("train", "val", "test") -> the inputs after x, one per info.more_inputs (seq2seq's decoder input)
    more_x: dict[str, tuple[torch.Tensor, ...]] = field(default_factory=dict)

    def inputs(self, split: str) -> tuple[torch.Tensor, ...]:
        """Every network input of one split, in the network's order: (x, *more_x[split])."""
        return (getattr(self, f"x_{split}"), *self.more_x.get(split, ()))

    def to(self, device: torch.device | str) -> "DatasetBundle":
        """Return a copy whose tensors live on `device`."""
        moved = {name: getattr(self, name).to(device) for name in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        more = {split: tuple(t.to(device) for t in tensors) for split, tensors in self.more_x.items()}
        return DatasetBundle(info=self.info, extras=self.extras, more_x=more, **moved)


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of DATASETS: every dataset shares `load(params, seed) -> DatasetBundle`."""

    name: str
    title: str
    category: str  # "2-D classification", "regression", "images", "sequences", "your data"
    doc: str
    params: tuple[Param, ...]
    describe: Callable[[dict], DataInfo]  # cheap: no data generated
    load: Callable[[dict, int], DatasetBundle]
