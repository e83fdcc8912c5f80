"""Probes: questions asked of a live model, answered as numpy arrays for the figures.

Every probe runs under `torch.no_grad()` in eval mode and puts the model back into the
mode it was in. Inputs go to the model's device in chunks; results come back on the CPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np
import torch
from torch import nn

from dlbuilder.datasets import PLAYGROUND_FEATURES, DatasetBundle, playground_features
from dlbuilder.datasets.features import DOMAIN
from dlbuilder.datasets.tokens import IGNORE_INDEX
from dlbuilder.training.evaluation import chunk_size
from dlbuilder.training.losses import predicted_classes

CHUNK = 4096  # rows per forward pass


@dataclass(frozen=True)
class Boundary:
    """A classifier over a 2-D grid; arrays are (len(ys), len(xs)): row i is y = ys[i]."""

    xs: np.ndarray
    ys: np.ndarray
    classes: np.ndarray  # predicted class id per cell
    confidence: np.ndarray  # probability of that class, in [0, 1]
    values: np.ndarray | None  # one output unit: tanh(output) in [-1, 1], sign = class; else None
    num_classes: int


@dataclass(frozen=True)
class Surface:
    """A regression over a 2-D grid: values (len(ys), len(xs)), row i is y = ys[i]."""

    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class FittedCurve:
    """Predictions of a 1-D regression along an x grid."""

    x: np.ndarray
    predicted: np.ndarray


@dataclass(frozen=True)
class SeriesPrediction:
    """Next-day predictions for every window, in the series' own units, next to the true series."""

    days: np.ndarray  # target day of each prediction
    predicted: np.ndarray
    series: np.ndarray  # the whole true series, one value per day
    regions: dict[str, tuple[int, int]]  # part -> (first, last) target day
    unit: str


@dataclass(frozen=True)
class Reconstructions:
    """Examples and what an autoencoder rebuilt from them, same shapes: (N, H, W) images or (N, F)."""

    inputs: np.ndarray
    outputs: np.ndarray
    errors: np.ndarray  # mean squared error of each example, (N,)


class Sample(NamedTuple):
    """One example for an image grid: the image, true class, predicted class and its probability."""

    image: np.ndarray
    true: int
    predicted: int
    probability: float


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside (gradients allowed: saliency, activation maximisation); the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """No gradients and eval mode inside; the model's previous mode is restored after."""
    with eval_mode(model), torch.no_grad():
        yield


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def forward(model: nn.Module, x) -> torch.Tensor:
    """Outputs in memory-bounded chunks, as float32 on the CPU (call inside `evaluating`).

    `x` is one tensor, or a tuple with one tensor per network input (seq2seq: source, decoder
    input), all cut with the same rows.
    """
    device = model_device(model)
    inputs = tuple(torch.as_tensor(part) for part in x) if isinstance(x, (tuple, list)) else (torch.as_tensor(x),)
    rows = len(inputs[0])
    chunk = min(CHUNK, chunk_size(model))  # fewer rows when one example makes many values
    starts = range(0, rows, chunk) if rows else [0]  # an empty batch still gives (0, units)
    return torch.cat([model(*(part[start:start + chunk].to(device) for part in inputs)).float().cpu()
                      for start in starts])


def class_probabilities_of(output: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, K): softmax over K scores, or [1 - p, p] with p = sigmoid of one unit."""
    if output.shape[-1] == 1:
        p = torch.sigmoid(output)
        return torch.cat([1 - p, p], dim=-1)
    return torch.softmax(output, dim=-1)


# -- 2-D grids ---------------------------------------------------------------------------------


def plot_range(bundle: DatasetBundle) -> tuple[float, float]:
    """The square drawn for a 2-D set: extras["domain"] (Playground's [-6, 6])."""
    low, high = bundle.extras.get("domain", DOMAIN)
    return float(low), float(high)


def feature_params(bundle: DatasetBundle) -> dict[str, bool]:
    """The feature switches the bundle was made with (from extras["features"])."""
    chosen = set(bundle.extras.get("features", ("x", "y")))
    return {name: name in chosen for name in PLAYGROUND_FEATURES}


def _grid(bundle: DatasetBundle, data_params: dict | None, resolution: int):
    """(xs, ys, features (R*R, F)); features row k is the point (xs[k % R], ys[k // R])."""
    low, high = plot_range(bundle)
    axis = torch.linspace(low, high, resolution)
    grid_y, grid_x = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # (R*R, 2)
    features = playground_features(points, data_params or feature_params(bundle))
    return axis.numpy(), axis.numpy().copy(), features


def decision_boundary(model: nn.Module, bundle: DatasetBundle, data_params: dict | None = None,
                      resolution: int = 100) -> Boundary:
    """Predicted class and confidence over a grid of the plot square (2-D classification sets)."""
    xs, ys, features = _grid(bundle, data_params, resolution)
    with evaluating(model):
        output = forward(model, features)  # (R*R, units)
    probabilities = class_probabilities_of(output)
    confidence, _ = probabilities.max(dim=-1)
    classes = predicted_classes("", output)
    shape = (resolution, resolution)
    values = torch.tanh(output[:, 0]).reshape(shape).numpy() if output.shape[-1] == 1 else None
    return Boundary(xs=xs, ys=ys, classes=classes.reshape(shape).numpy(),
                    confidence=confidence.reshape(shape).numpy(), values=values,
                    num_classes=max(2, output.shape[-1]))


def regression_surface(model: nn.Module, bundle: DatasetBundle, data_params: dict | None = None,
                       resolution: int = 100) -> Surface:
    """Predicted value over a grid of the plot square (2-D regression sets: plane, multi_gaussian)."""
    xs, ys, features = _grid(bundle, data_params, resolution)
    with evaluating(model):
        output = forward(model, features)
    return Surface(xs=xs, ys=ys, values=output[:, 0].reshape(resolution, resolution).numpy())


# -- 1-D regression and series -----------------------------------------------------------------


def _x_range(bundle: DatasetBundle) -> tuple[float, float]:
    if "x_range" in bundle.extras:
        low, high = bundle.extras["x_range"]
        return float(low), float(high)
    x = torch.cat([bundle.x_train, bundle.x_val, bundle.x_test]).float().cpu()
    return float(x.min()), float(x.max())


def fitted_curve(model: nn.Module, bundle: DatasetBundle, points: int = 200) -> FittedCurve:
    """Predictions along `points` evenly spaced x over the data range (1-D regression, e.g. sine)."""
    x = torch.linspace(*_x_range(bundle), points)
    with evaluating(model):
        output = forward(model, x[:, None])
    return FittedCurve(x=x.numpy(), predicted=output[:, 0].numpy())


def series_prediction(model: nn.Module, bundle: DatasetBundle) -> SeriesPrediction:
    """Next-day predictions for every train/val/test window, with the scaling undone (daily_views)."""
    extras = bundle.extras
    scale = extras.get("scale", {"offset": 0.0, "factor": 1.0, "unit": "value"})
    parts = {"train": bundle.x_train, "val": bundle.x_val, "test": bundle.x_test}
    days, predicted, regions = [], [], {}
    with evaluating(model):
        for name, x in parts.items():
            if len(x) == 0:
                continue
            target_days = np.asarray(extras[f"target_days_{name}"].cpu())
            days.append(target_days)
            predicted.append(forward(model, x)[:, 0].numpy())
            regions[name] = (int(target_days.min()), int(target_days.max()))
    series = np.asarray(extras["series"].cpu(), dtype=np.float64)
    return SeriesPrediction(days=np.concatenate(days), predicted=_unscale(np.concatenate(predicted), scale),
                            series=_unscale(series, scale), regions=regions, unit=scale.get("unit", "value"))


def _unscale(values: np.ndarray, scale: dict) -> np.ndarray:
    """Back to the series' own units: value * factor + offset."""
    return np.asarray(values, dtype=np.float64) * scale["factor"] + scale["offset"]


# -- classifiers on examples -------------------------------------------------------------------


def confusion_matrix(model: nn.Module, x, y: torch.Tensor, num_classes: int,
                     loss: str = "cross_entropy") -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class.

    `x` is one tensor or a tuple of the network's inputs; with one class per step (y (N, T)) every
    real step counts once and padded steps (IGNORE_INDEX) not at all.
    """
    with evaluating(model):
        predicted = predicted_classes(loss, forward(model, x)).numpy().reshape(-1)
    true = np.asarray(y.cpu(), dtype=np.int64).reshape(-1)
    real = true != IGNORE_INDEX
    counts = np.bincount(true[real] * num_classes + predicted[real], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def sample_predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, count: int = 16,
                       loss: str = "cross_entropy", only_mistakes: bool = False) -> list[Sample]:
    """The first `count` examples (or mistakes) with true class, predicted class and its probability."""
    with evaluating(model):
        output = forward(model, x)
    probabilities = class_probabilities_of(output)
    predicted = predicted_classes(loss, output)
    true = y.cpu().reshape(-1)
    rows = torch.nonzero(predicted != true).reshape(-1) if only_mistakes else torch.arange(len(x))
    samples = []
    for row in rows[:count].tolist():
        image = x[row].float().cpu().numpy()
        image = image[0] if image.ndim == 3 and image.shape[0] == 1 else image  # (1, H, W) -> (H, W)
        label = int(predicted[row])
        samples.append(Sample(image, int(true[row]), label, float(probabilities[row, label])))
    return samples


def class_probabilities(model: nn.Module, x_one: torch.Tensor) -> np.ndarray:
    """Probabilities (K,) for one example without a batch dimension; one unit gives [1 - p, p]."""
    with evaluating(model):
        output = forward(model, torch.as_tensor(x_one)[None])
    return class_probabilities_of(output)[0].numpy()


# -- autoencoders ---------------------------------------------------------------------------------


def reconstructions(model: nn.Module, x: torch.Tensor, count: int = 8) -> Reconstructions:
    """The first `count` examples of `x` and the model's rebuilt versions (one channel squeezed: (N, H, W))."""
    x = torch.as_tensor(x)[:count]
    with evaluating(model):
        output = forward(model, x).reshape(x.shape)
    inputs, outputs = x.float().cpu().numpy(), output.numpy()
    errors = ((outputs - inputs) ** 2).reshape(len(inputs), -1).mean(axis=1) if len(inputs) else np.zeros(0)
    if inputs.ndim == 4 and inputs.shape[1] == 1:  # (N, 1, H, W) -> (N, H, W)
        inputs, outputs = inputs[:, 0], outputs[:, 0]
    return Reconstructions(inputs=inputs, outputs=outputs, errors=errors)
