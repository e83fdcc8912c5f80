"""Helpers every dataset shares: parameter cleaning, shared Params, train/val/test splits."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError
from dlbuilder.params import Param, check_params, unknown_keys


def num_samples_param(default: int, low: int = 20, high: int = 5000) -> Param:
    """How many examples to generate in total (train + validation + test)."""
    return Param("num_samples", "int", default, "how many examples to generate in total",
                 min=low, max=high)


def noise_param(default: int) -> Param:
    """Playground's noise slider: 0-50 percent."""
    return Param("noise", "int", default, "noise in percent, 0-50 as in TensorFlow Playground",
                 min=0, max=50)


def train_fraction_param(default: float) -> Param:
    """Playground's "ratio of training to test data": the rest is the test set."""
    return Param("train_fraction", "float", default,
                 "share of the examples used for training (incl. validation); the rest is test",
                 min=0.1, max=0.9)


def val_fraction_param(default: float = 0.2) -> Param:
    """Part of the training share held out for validation (0 = no validation set)."""
    return Param("val_fraction", "float", default,
                 "part of the training share held out for validation (0 = none)",
                 min=0.0, max=0.5)


def clean_params(schema: tuple[Param, ...], params: dict[str, Any] | None) -> dict[str, Any]:
    """Fill defaults and check `params`; raise DatasetError listing every problem."""
    params = dict(params or {})
    problems = [f"unknown setting {name!r} (known: {', '.join(p.name for p in schema)})"
                for name in unknown_keys(schema, params)]
    cleaned, errors = check_params(schema, params)
    problems.extend(errors)
    if problems:
        raise DatasetError("; ".join(problems))
    return cleaned


def split_sizes(n: int, train_fraction: float, val_fraction: float) -> tuple[int, int, int]:
    """Sizes (train, val, test): test = n - round(n * train_fraction), val taken from the rest."""
    n_fit = min(n, max(1, int(n * train_fraction + 0.5)))
    n_val = int(n_fit * val_fraction + 0.5)
    n_train = n_fit - n_val
    if n_train < 1:
        raise DatasetError(f"only {n} examples: too few to keep a training set; "
                           "use more examples or a smaller validation fraction")
    return n_train, n_val, n - n_fit


def _stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order in which every prefix holds each class in about its overall share."""
    perm = rng.permutation(len(labels))
    shuffled = labels[perm]
    key = np.empty(len(labels))
    for value in np.unique(shuffled):
        members = np.flatnonzero(shuffled == value)
        # spread each class evenly over [0, 1), with a random phase per class
        key[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return perm[np.argsort(key, kind="stable")]


def split_indices(n: int, rng: np.random.Generator, train_fraction: float, val_fraction: float,
                  labels: np.ndarray | None = None, shuffle: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test); stratified by `labels` if given; unshuffled: in order."""
    n_train, n_val, _ = split_sizes(n, train_fraction, val_fraction)
    if not shuffle:
        order = np.arange(n)  # time order: train earlier, then val, then test
    elif labels is not None:
        order = _stratified_order(np.asarray(labels), rng)
    else:
        order = rng.permutation(n)
    parts = (order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:])
    if shuffle:
        parts = tuple(rng.permutation(part) for part in parts)
    return parts


def to_tensors(info: DataInfo, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """x as float32 (N, *input_shape); y as int64 (N,) or float32 (N, num_targets)."""
    x_tensor = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)).reshape(
        len(x), *info.input_shape)
    if info.task == "classification":
        return x_tensor, torch.as_tensor(np.asarray(y, dtype=np.int64)).reshape(len(y))
    y_array = np.ascontiguousarray(y, dtype=np.float32)
    return x_tensor, torch.as_tensor(y_array).reshape(len(y), info.num_targets)


def make_bundle(info: DataInfo, x: np.ndarray, y: np.ndarray,
                parts: tuple[np.ndarray, np.ndarray, np.ndarray],
                extras: dict | None = None) -> DatasetBundle:
    """Cut x, y into the three parts given by index arrays and wrap them as a bundle."""
    tensors = [to_tensors(info, x[idx], y[idx]) for idx in parts]
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = tensors
    return DatasetBundle(info=info, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                         x_test=x_test, y_test=y_test, extras=dict(extras or {}))


def make_token_bundle(info: DataInfo, x: np.ndarray, y: np.ndarray,
                      parts: tuple[np.ndarray, np.ndarray, np.ndarray], extras: dict | None = None,
                      more_x: tuple[np.ndarray, ...] = ()) -> DatasetBundle:
    """Like make_bundle for sequence data: x and `more_x` keep their dtype (int64 token ids or
    float32 values); y is int64 (classes, IGNORE_INDEX at padding) or float32 (regression)."""
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array, dtype=array.dtype))

    y_type = np.int64 if info.task == "classification" else np.float32
    cut = {name: (tensor(x[idx]), tensor(np.asarray(y[idx], dtype=y_type)),
                  tuple(tensor(extra[idx]) for extra in more_x))
           for name, idx in zip(("train", "val", "test"), parts)}
    return DatasetBundle(info=info, x_train=cut["train"][0], y_train=cut["train"][1],
                         x_val=cut["val"][0], y_val=cut["val"][1], x_test=cut["test"][0],
                         y_test=cut["test"][1], extras=dict(extras or {}),
                         more_x={name: more for name, (_, _, more) in cut.items()} if more_x else {})
