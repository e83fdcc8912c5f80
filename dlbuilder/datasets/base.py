"""The dataset interface: what every entry of `DATASETS` describes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from dlbuilder.params import Param

TASKS = ("classification", "regression")
DISPLAYS = ("points2d", "curve1d", "series", "image", "table", "sequence")


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

    def to(self, device: torch.device | str) -> "DatasetBundle":
        """Return a copy whose tensors live on `device`."""
        moved = {name: getattr(self, name).to(device) for name in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return DatasetBundle(info=self.info, extras=self.extras, **moved)


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of DATASETS: every dataset shares `load(params, seed) -> DatasetBundle`."""

    name: str
    title: str
    category: str  # "2-D classification", "regression", "images", "your data"
    doc: str
    params: tuple[Param, ...]
    describe: Callable[[dict], DataInfo]  # cheap: no data generated
    load: Callable[[dict, int], DatasetBundle]
