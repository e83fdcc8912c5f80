"""Forecasting series cut into windows: the previous k values -> the next `horizon` values.

`daily_views` is modelled on the YouTube-views case study (Hung-yi Lee, lecture 002): views in
the thousands, a slow upward trend, a weekly rhythm (fewer views at the weekend), a term-time
swing over the year and day-to-day noise that lingers for a few days. `sine_wave` is a noisy
sine sampled at regular steps.

Windows are x (N, k) for Dense layers (layout "vector") or x (N, k, 1), one value per time step,
for RNN/LSTM/GRU layers (layout "sequence"); y is (N, horizon). Train, validation and test are
consecutive periods; extras["target_days_<split>"] is the first step each window predicts.
"""

from __future__ import annotations

import datetime

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec
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



def layout_param(default: str) -> Param:
    """How one window is shaped: a vector for Dense layers or a sequence for recurrent ones."""
    return Param("layout", "choice", default, "vector: (k,) for Dense layers; sequence: (k, 1), one "
                 "value per time step, for RNN/LSTM/GRU", choices=("vector", "sequence"))


HORIZON_PARAM = Param("horizon", "int", 1, "how many next values to predict", min=1, max=28)

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
    layout_param("vector"),
    HORIZON_PARAM,
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


def window_info(p: dict, length_name: str, unit: str) -> DataInfo:
    """Input: the previous `window` values (shaped by `layout`); target: the next `horizon`."""
    window, examples = p["window"], p[length_name] - p["window"] - p["horizon"] + 1
    if examples < 2:
        raise DatasetError(f"{p[length_name]} steps leave no room for a window of {window} and a horizon "
                           f"of {p['horizon']}: make the series longer or the window shorter")
    split_sizes(examples, p["train_fraction"], p["val_fraction"])  # DatasetError if no training set is left
    names = tuple(f"{unit} t-{lag}" for lag in range(window, 0, -1))
    shape = (window,) if p["layout"] == "vector" else (window, 1)
    return DataInfo(input_shape=shape, task="regression", num_targets=p["horizon"],
                    feature_names=names, display="series")


def window_bundle(info: DataInfo, series: np.ndarray, p: dict, parts, extras: dict) -> DatasetBundle:
    """Cut the scaled series into (window -> horizon) examples; `parts` index the windows."""
    window, horizon = p["window"], p["horizon"]
    n_examples = len(series) - window - horizon + 1
    rows = np.arange(window)[None, :] + np.arange(n_examples)[:, None]  # (N, window) step indices
    x, y = series[rows], series[rows[:, -1:] + 1 + np.arange(horizon)[None, :]]  # y: (N, horizon)
    extras = {"series": torch.as_tensor(series, dtype=torch.float32), "window": window, **extras}
    for part_name, idx in zip(("train", "val", "test"), parts):
        extras[f"target_days_{part_name}"] = torch.as_tensor(idx + window, dtype=torch.long)
    return make_bundle(info, x, y, parts, extras)


def describe_daily_views(params: dict) -> DataInfo:
    """Input: the previous `window` days; target: the next `horizon` days."""
    return window_info(clean_params(DAILY_VIEWS_PARAMS, params), "num_days", "day")


def _scaling(views: np.ndarray, p: dict, n_train: int) -> tuple[float, float]:
    """(offset, factor) with views = value * factor + offset; fitted on the training period only."""
    if p["scale"] == "thousands":
        return 0.0, 1000.0
    seen = views[:n_train + p["window"] + p["horizon"] - 1]  # days that training inputs or targets touch
    return float(seen.mean()), float(seen.std())


def load_daily_views(params: dict, seed: int) -> DatasetBundle:
    """Windows of the scaled series in time order: train earliest, then validation, then test."""
    info = describe_daily_views(params)
    p = clean_params(DAILY_VIEWS_PARAMS, params)
    rng = np.random.default_rng(seed)
    views = views_series(p["num_days"], p["noise"] / 100, rng)
    n_examples = p["num_days"] - p["window"] - p["horizon"] + 1
    parts = split_indices(n_examples, rng, p["train_fraction"], p["val_fraction"], shuffle=False)
    offset, factor = _scaling(views, p, len(parts[0]))
    extras = {"scale": {"offset": offset, "factor": factor, "unit": "views"},
              "start_date": START_DATE.isoformat()}
    return window_bundle(info, (views - offset) / factor, p, parts, extras)


SINE_WAVE_PARAMS = (
    Param("num_steps", "int", 1000, "length of the series in time steps", min=100, max=10000),
    Param("period", "int", 25, "time steps per full cycle of the sine", min=4, max=200),
    Param("window", "int", 20, "how many previous steps the model sees", min=1, max=200),
    noise_param(10),
    train_fraction_param(0.8),
    val_fraction_param(0.2),
    layout_param("sequence"),
    HORIZON_PARAM,
)


def sine_wave_series(num_steps: int, period: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """sin(2 pi t / period) at t = 0 .. num_steps-1 plus Gaussian noise of std `noise`, (num_steps,)."""
    steps = np.arange(num_steps)
    return np.sin(2 * np.pi * steps / period) + rng.normal(0, noise, num_steps)


def describe_sine_wave(params: dict) -> DataInfo:
    """Input: the previous `window` steps; target: the next `horizon` steps."""
    return window_info(clean_params(SINE_WAVE_PARAMS, params), "num_steps", "step")


def load_sine_wave(params: dict, seed: int) -> DatasetBundle:
    """Windows of a noisy sine in time order (values already around [-1, 1]: no scaling)."""
    info = describe_sine_wave(params)
    p = clean_params(SINE_WAVE_PARAMS, params)
    rng = np.random.default_rng(seed)
    series = sine_wave_series(p["num_steps"], p["period"], p["noise"] / 100, rng)
    n_examples = p["num_steps"] - p["window"] - p["horizon"] + 1
    parts = split_indices(n_examples, rng, p["train_fraction"], p["val_fraction"], shuffle=False)
    extras = {"scale": {"offset": 0.0, "factor": 1.0, "unit": "value"}, "period": p["period"]}
    return window_bundle(info, series, p, parts, extras)


SERIES_SETS: dict[str, DatasetSpec] = {
    "daily_views": DatasetSpec(
        name="daily_views", title="Daily views", category="regression",
        doc="Predict tomorrow's channel views from the last days (trend + weekly rhythm + noise).",
        params=DAILY_VIEWS_PARAMS, describe=describe_daily_views, load=load_daily_views),
    "sine_wave": DatasetSpec(
        name="sine_wave", title="Noisy sine wave", category="regression",
        doc="Predict the next values of a noisy sine from the last steps; layout 'sequence' feeds "
            "an RNN one value per step.",
        params=SINE_WAVE_PARAMS, describe=describe_sine_wave, load=load_sine_wave),
}
