"""`daily_views`: a synthetic channel-views series; predict tomorrow from the previous k days.

Modelled on the YouTube-views case study (Hung-yi Lee, lecture 002): views in the thousands,
a slow upward trend, a weekly rhythm (fewer views at the weekend), a term-time swing over
the year and day-to-day noise that lingers for a few days.
"""

from __future__ import annotations

import datetime

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetSpec
from dlbuilder.datasets.common import (
    clean_params,
    make_bundle,
    noise_param,
    split_indices,
    split_sizes,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.params import Param

START_DATE = datetime.date(2017, 1, 1)
WEEKLY_FACTOR = np.array([1.10, 1.12, 1.08, 1.02, 0.86, 0.74, 0.98])  # Monday .. Sunday
NOISE_MEMORY = 0.7  # AR(1) coefficient: a busy day tends to be followed by another

DAILY_VIEWS_PARAMS = (
    Param("num_days", "int", 1826, "length of the series in days (1826 = 2017-2021)",
          min=200, max=4000),
    Param("window", "int", 7, "how many previous days the model sees", min=1, max=56),
    noise_param(10),
    train_fraction_param(0.8),
    val_fraction_param(0.2),
    Param("scale", "choice", "standardize",
          "standardize (mean 0, std 1 on the training period) or views in thousands",
          choices=("standardize", "thousands")),
)


def views_series(num_days: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Daily views (num_days,): trend x weekly x yearly pattern x lingering multiplicative noise."""
    day = np.arange(num_days)
    weekday = (START_DATE.weekday() + day) % 7
    trend = 4000 * (1 + 0.6 * day / 1826)
    yearly = 1 + 0.15 * np.cos(4 * np.pi * (day - 80) / 365.25)  # two terms a year
    shocks = rng.normal(0, noise * np.sqrt(1 - NOISE_MEMORY ** 2), num_days)
    wobble = np.empty(num_days)
    wobble[0] = rng.normal(0, noise)
    for t in range(1, num_days):
        wobble[t] = NOISE_MEMORY * wobble[t - 1] + shocks[t]  # stationary std = noise
    return trend * WEEKLY_FACTOR[weekday] * yearly * np.exp(wobble)


def describe_daily_views(params: dict) -> DataInfo:
    """Input: the previous `window` days; target: the next day."""
    p = clean_params(DAILY_VIEWS_PARAMS, params)
    _check_window(p)
    names = tuple(f"day t-{lag}" for lag in range(p["window"], 0, -1))
    return DataInfo(input_shape=(p["window"],), task="regression", num_targets=1,
                    feature_names=names, display="series")


def _check_window(p: dict) -> None:
    # raises DatasetError when too few windows are left to train on
    split_sizes(p["num_days"] - p["window"], p["train_fraction"], p["val_fraction"])


def _scaling(views: np.ndarray, p: dict, n_train: int) -> tuple[float, float]:
    """(offset, factor) with views = value * factor + offset; fitted on the training period only."""
    if p["scale"] == "thousands":
        return 0.0, 1000.0
    seen = views[:n_train + p["window"]]  # days that training inputs or targets touch
    return float(seen.mean()), float(seen.std())


def load_daily_views(params: dict, seed: int) -> DatasetBundle:
    """Windows of the scaled series in time order: train earliest, then validation, then test."""
    info = describe_daily_views(params)
    p = clean_params(DAILY_VIEWS_PARAMS, params)
    rng = np.random.default_rng(seed)
    window = p["window"]
    views = views_series(p["num_days"], p["noise"] / 100, rng)
    n_examples = p["num_days"] - window
    parts = split_indices(n_examples, rng, p["train_fraction"], p["val_fraction"], shuffle=False)
    offset, factor = _scaling(views, p, len(parts[0]))
    series = (views - offset) / factor
    rows = np.arange(window)[None, :] + np.arange(n_examples)[:, None]  # (N, window) day indices
    x, y = series[rows], series[window:]
    extras = {"series": torch.as_tensor(series, dtype=torch.float32),
              "scale": {"offset": offset, "factor": factor, "unit": "views"},
              "start_date": START_DATE.isoformat(), "window": window}
    for part_name, idx in zip(("train", "val", "test"), parts):
        extras[f"target_days_{part_name}"] = torch.as_tensor(idx + window, dtype=torch.long)
    return make_bundle(info, x, y, parts, extras)


SERIES_SETS: dict[str, DatasetSpec] = {
    "daily_views": DatasetSpec(
        name="daily_views", title="Daily views", category="regression",
        doc="Predict tomorrow's channel views from the last days (trend + weekly rhythm + noise).",
        params=DAILY_VIEWS_PARAMS, describe=describe_daily_views, load=load_daily_views),
}
