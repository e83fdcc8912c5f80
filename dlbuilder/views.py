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
from dlbuilder.figures.previews import raw_points

LIVE_RESOLUTION = 50  # grid cells per side while training (smaller figures, faster refresh)
STILL_RESOLUTION = 100


def model_views(model: nn.Module, bundle: DatasetBundle, data_params: dict, loss: str, problem: str,
                live: bool = True) -> dict[str, go.Figure]:
    """Figures showing the model's predictions, by title (empty when the data has no picture)."""
    info = bundle.info
    if problem == "reconstruction":
        return {}
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
        samples = probes.sample_predictions(model, bundle.x_test, bundle.y_test, count=12, loss=loss)
        matrix = probes.confusion_matrix(model, bundle.x_test, bundle.y_test, info.num_classes, loss=loss)
        # Four per row: the titles ("pred 7 (98%)") stay readable in half a page.
        return {"Test images": image_grid_figure(samples, info.class_names, columns=4),
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
