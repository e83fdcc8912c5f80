"""Playground's input features for 2-D sets, and the shared recipe for a 2-D points dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec
from dlbuilder.datasets.common import (
    clean_params,
    make_bundle,
    noise_param,
    num_samples_param,
    split_indices,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.params import Param

DOMAIN = (-6.0, 6.0)  # Playground draws x and y in [-6, 6]


@dataclass(frozen=True)
class Feature:
    """One Playground input feature: the label users see and how it is computed from (x, y)."""

    label: str
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    default: bool = False


# fixed order: the input vector lists the chosen features in this order
PLAYGROUND_FEATURES: dict[str, Feature] = {
    "x": Feature("x", lambda x, y: x, default=True),
    "y": Feature("y", lambda x, y: y, default=True),
    "x_squared": Feature("x²", lambda x, y: x * x),
    "y_squared": Feature("y²", lambda x, y: y * y),
    "x_times_y": Feature("x·y", lambda x, y: x * y),
    "sin_x": Feature("sin(x)", lambda x, y: torch.sin(x)),
    "sin_y": Feature("sin(y)", lambda x, y: torch.sin(y)),
}

FEATURE_PARAMS: tuple[Param, ...] = tuple(
    Param(name, "bool", feature.default, f"use {feature.label} as an input")
    for name, feature in PLAYGROUND_FEATURES.items())


def selected_features(params: dict) -> list[str]:
    """Names of the features switched on in `params` (defaults for missing ones), in fixed order."""
    chosen = [name for name, feature in PLAYGROUND_FEATURES.items()
              if params.get(name, feature.default)]
    if not chosen:
        raise DatasetError("no input feature is switched on: turn on at least one of "
                           + ", ".join(PLAYGROUND_FEATURES))
    return chosen


def playground_features(points: torch.Tensor, params: dict) -> torch.Tensor:
    """Turn raw points (N, 2) into the chosen feature columns (N, F), e.g. for a boundary grid."""
    points = torch.as_tensor(points, dtype=torch.float32)
    x, y = points[:, 0], points[:, 1]
    columns = [PLAYGROUND_FEATURES[name].compute(x, y) for name in selected_features(params)]
    return torch.stack(columns, dim=1)


# generate(num_samples, noise in [0, 0.5], rng, params) -> (points (N, 2), targets (N,))
Generator2D = Callable[[int, float, np.random.Generator, dict], tuple[np.ndarray, np.ndarray]]


def points_spec(name: str, title: str, category: str, doc: str, generate: Generator2D, *,
                class_names: Callable[[dict], tuple[str, ...]] | None = None,
                extra_params: tuple[Param, ...] = (), num_samples: int = 500,
                noise: int = 0) -> DatasetSpec:
    """A 2-D dataset with Playground features; classification when `class_names` is given."""
    schema = (num_samples_param(num_samples), noise_param(noise), *extra_params,
              train_fraction_param(0.5), val_fraction_param(0.2), *FEATURE_PARAMS)

    def describe(params: dict) -> DataInfo:
        p = clean_params(schema, params)
        names = tuple(PLAYGROUND_FEATURES[f].label for f in selected_features(p))
        if class_names is None:
            return DataInfo(input_shape=(len(names),), task="regression", num_targets=1,
                            feature_names=names, display="points2d")
        classes = class_names(p)
        return DataInfo(input_shape=(len(names),), task="classification",
                        num_classes=len(classes), class_names=classes,
                        feature_names=names, display="points2d")

    def load(params: dict, seed: int) -> DatasetBundle:
        info = describe(params)
        p = clean_params(schema, params)
        rng = np.random.default_rng(seed)
        points, targets = generate(p["num_samples"], p["noise"] / 100, rng, p)
        points = torch.as_tensor(points, dtype=torch.float32)
        features = playground_features(points, p).numpy()
        labels = targets if info.task == "classification" else None
        parts = split_indices(len(points), rng, p["train_fraction"], p["val_fraction"], labels)
        extras = {"domain": DOMAIN, "features": selected_features(p)}
        for part_name, idx in zip(("train", "val", "test"), parts):
            extras[f"points_{part_name}"] = points[torch.as_tensor(idx, dtype=torch.long)]
        return make_bundle(info, features, targets, parts, extras)

    return DatasetSpec(name=name, title=title, category=category, doc=doc, params=schema,
                       describe=describe, load=load)
