"""Regression sets: Playground's plane and multi-Gaussian (regressPlane, regressGaussian), sine."""

from __future__ import annotations

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetSpec
from dlbuilder.datasets.common import (
    clean_params,
    make_bundle,
    noise_param,
    num_samples_param,
    split_indices,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.datasets.features import points_spec

CATEGORY = "regression"
RADIUS = 6.0

# (center x, center y, sign) of regressGaussian's six bumps
GAUSSIAN_BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1],
                           [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]], dtype=np.float64)


def _uniform_points(n: int, noise: float, rng: np.random.Generator):
    """Points in [-6, 6]^2 and the jittered copies at which Playground reads the label."""
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    return points, points + rng.uniform(-RADIUS, RADIUS, (n, 2)) * noise


def plane_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """regressPlane: target (x + y) / 10, in [-1.2, 1.2] before noise."""
    points, jittered = _uniform_points(n, noise, rng)
    return points, jittered.sum(axis=1) / 10


def gaussian_bumps(points: np.ndarray) -> np.ndarray:
    """regressGaussian's target: of six signed bumps (1 - distance/2, >= 0), the largest."""
    offsets = points[:, None, :] - GAUSSIAN_BUMPS[None, :, :2]  # (N, 6, 2)
    heights = np.clip(1 - np.linalg.norm(offsets, axis=2) / 2, 0, 1) * GAUSSIAN_BUMPS[:, 2]
    winner = np.argmax(np.abs(heights), axis=1)  # first maximum on ties, as in Playground
    return heights[np.arange(len(points)), winner]


def multi_gaussian_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """regressGaussian: six bumps of height +-1 on a 3 x 2 grid."""
    points, jittered = _uniform_points(n, noise, rng)
    return points, gaussian_bumps(jittered)


SINE_RANGE = (-6.0, 6.0)
SINE_PARAMS = (num_samples_param(200, low=10, high=5000), noise_param(10),
               train_fraction_param(0.5), val_fraction_param(0.2))


def describe_sine(params: dict) -> DataInfo:
    """One input x, one target sin(x) + noise."""
    clean_params(SINE_PARAMS, params)
    return DataInfo(input_shape=(1,), task="regression", num_targets=1,
                    feature_names=("x",), display="curve1d")


def load_sine(params: dict, seed: int) -> DatasetBundle:
    """x uniform in [-6, 6]; y = sin(x) + Gaussian noise with std noise/100 (0-0.5)."""
    info = describe_sine(params)
    p = clean_params(SINE_PARAMS, params)
    rng = np.random.default_rng(seed)
    x = rng.uniform(*SINE_RANGE, p["num_samples"])
    y = np.sin(x) + rng.normal(0, p["noise"] / 100, len(x))
    parts = split_indices(len(x), rng, p["train_fraction"], p["val_fraction"])
    curve_x = np.linspace(*SINE_RANGE, 241)
    extras = {"x_range": SINE_RANGE, "formula": "sin(x)",
              "curve_x": torch.as_tensor(curve_x, dtype=torch.float32),
              "curve_y": torch.as_tensor(np.sin(curve_x), dtype=torch.float32)}
    return make_bundle(info, x[:, None], y, parts, extras)


REGRESSION_SETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    points_spec("plane", "Plane", CATEGORY,
                "A tilted plane: the target grows with x + y (Playground).",
                plane_points, num_samples=1200),
    points_spec("multi_gaussian", "Multi Gaussian", CATEGORY,
                "Six bumps of height +1 or -1 (Playground).",
                multi_gaussian_points, num_samples=1200),
    DatasetSpec(name="sine", title="Noisy sine", category=CATEGORY,
                doc="A 1-D curve y = sin(x) with noise: watch the fitted curve bend.",
                params=SINE_PARAMS, describe=describe_sine, load=load_sine),
)}
