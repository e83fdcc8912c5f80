"""What a trained model looks like on its dataset: probes turned into figures, picked by the data's kind."""

from __future__ import annotations

import plotly.graph_objects as go
from torch import nn

from dlbuilder import probes
from dlbuilder.datasets.base import DatasetBundle
from dlbuilder.figures import (
    boundary_figure,
    confusion_figure,
    image_grid_figure,
    regression_fit_figure,
    series_fit_figure,
    surface_figure,
)
from dlbuilder.figures.images import reconstruction_figure
from dlbuilder.figures.previews import raw_points
from dlbuilder.figures.sequence_tables import class_table, tagging_table, translation_table
from dlbuilder.inspection.neurons import NeuronMaps, neuron_maps
from dlbuilder.inspection.sequence_predictions import (SequencePredictions, TypedPrediction, background_class,
                                                       predict_test_sequences, shown_examples)

RECONSTRUCTED = 6  # test images shown beside their reconstructions: three rows of two pairs
LIVE_RESOLUTION = 50  # grid cells per side while training (smaller figures, faster refresh)
STILL_RESOLUTION = 100
NEURON_RESOLUTION = 40  # grid points per side of each neuron's map


def model_views(model: nn.Module, bundle: DatasetBundle, data_params: dict, loss: str, problem: str,
                live: bool = True) -> dict[str, go.Figure]:
    """Figures showing the model's predictions, by title (empty when the data has no picture)."""
    info = bundle.info
    if problem == "reconstruction":
        return _reconstructions(model, bundle)
    if info.display == "points2d":
        return {"Decision boundary" if info.task == "classification" else "Predicted surface":
                _plane(model, bundle, data_params, live)}
    if info.display == "curve1d":
        fitted = probes.fitted_curve(model, bundle)
        points = {split: (getattr(bundle, f"x_{split}").numpy()[:, 0], getattr(bundle, f"y_{split}").numpy()[:, 0])
                  for split in ("train", "test")}
        truth = (bundle.extras["curve_x"], bundle.extras["curve_y"]) if "curve_x" in bundle.extras else None
        return {"Fitted curve": regression_fit_figure(fitted.x, fitted.predicted, points=points, truth=truth)}
    if info.display == "series":
        return {"Prediction over the series": series_fit_figure(probes.series_prediction(model, bundle),
                                                                bundle.extras.get("start_date"))}
    if info.display == "image" and info.task == "classification":
        samples = probes.sample_predictions(model, bundle.x_test, bundle.y_test, count=9, loss=loss)
        matrix = probes.confusion_matrix(model, bundle.x_test, bundle.y_test, info.num_classes, loss=loss)
        # Three per row: the live view is a quarter of the page (~360 px), and four titles
        # ("pred 7 (98%)") side by side ran into each other there.
        return {"Test images": image_grid_figure(samples, info.class_names, columns=3),
                "Confusion matrix (test set)": confusion_figure(matrix, info.class_names)}
    return {}


def _plane(model: nn.Module, bundle: DatasetBundle, data_params: dict, live: bool) -> go.Figure:
    resolution = LIVE_RESOLUTION if live else STILL_RESOLUTION
    train, test = raw_points(bundle, "train"), raw_points(bundle, "test")
    if bundle.info.task == "classification":
        boundary = probes.decision_boundary(model, bundle, data_params, resolution=resolution)
        return boundary_figure(boundary, train, bundle.y_train.numpy(), test, bundle.y_test.numpy(),
                               bundle.info.class_names)
    surface = probes.regression_surface(model, bundle, data_params, resolution=resolution)
    return surface_figure(surface, train, bundle.y_train.numpy()[:, 0], test, bundle.y_test.numpy()[:, 0])


def shows_neurons(bundle: DatasetBundle) -> bool:
    """Whether the data has Playground's per-neuron view: 2-D points (circle, xor, spiral, plane...)."""
    return bundle.info.display == "points2d"


def neuron_view(model: nn.Module, bundle: DatasetBundle, data_params: dict) -> NeuronMaps | None:
    """Every input feature's and neuron's output over the plot square, for 2-D data (None otherwise)."""
    if not shows_neurons(bundle):
        return None
    return neuron_maps(model, bundle, data_params, resolution=NEURON_RESOLUTION)


def _reconstructions(model: nn.Module, bundle: DatasetBundle) -> dict[str, go.Figure]:
    """Test images beside the autoencoder's rebuilt versions (no picture for other kinds of data)."""
    if bundle.info.display != "image":
        return {}
    rebuilt = probes.reconstructions(model, bundle.x_test, count=RECONSTRUCTED)
    figure = reconstruction_figure(rebuilt.inputs, rebuilt.outputs, rebuilt.errors, pairs_per_row=2)
    return {"Test images (left) and what the network rebuilt (right), with its mean squared error": figure}


# -- sequences -------------------------------------------------------------------------------------------

SEQUENCE_TITLES = {"tags": "Test sentences: predicted tags (mistakes in red)",
                   "translation": "Test inputs: the model's output (wrong characters in red)",
                   "class": "Test sequences: predicted class (mistakes in red)"}


def sequence_predictions_view(model: nn.Module, bundle: DatasetBundle, loss: str, count: int) -> dict[str, go.Figure]:
    """A table of `count` test sequences with predicted vs true tags, outputs or classes (empty for other data).

    Seq2seq outputs are decoded greedily, as the model writes on its own (a few forward passes per step).
    """
    if bundle.info.display != "sequence" or len(bundle.x_test) == 0:
        return {}
    found = predict_test_sequences(model, bundle, shown_examples(bundle, count), loss)
    return {SEQUENCE_TITLES[found.kind]: predictions_figure(found, background_class(bundle))}


def predictions_figure(found: SequencePredictions, hidden_tag: str | None = None) -> go.Figure:
    """The table that fits the predictions' kind; tag runs of `hidden_tag` are listed only when wrong."""
    joiner = "" if found.level == "char" else " "
    if found.kind == "tags":
        return tagging_table(found.inputs, found.predicted, found.true, hidden_tag)
    if found.kind == "translation":
        return translation_table([joiner.join(row) for row in found.inputs], ["".join(row) for row in found.predicted],
                                 ["".join(row) for row in found.true] if found.true is not None else None)
    return class_table([joiner.join(row) for row in found.inputs], [row[0] for row in found.predicted],
                       [row[0] for row in found.true] if found.true is not None else None)


def typed_prediction_figure(found: TypedPrediction, hidden_tag: str | None = None) -> go.Figure:
    """The student's own input as the model read it, with its tags, output or class (no truth to mark)."""
    joiner = "" if found.level == "char" else " "
    if found.kind == "tags":
        return tagging_table([found.tokens], [found.predicted], hidden_tag=hidden_tag)
    if found.kind == "translation":
        output = "".join(found.predicted) + ("" if found.finished else " …")
        return translation_table([joiner.join(found.tokens)], [output])
    return class_table([joiner.join(found.tokens)], found.predicted)
