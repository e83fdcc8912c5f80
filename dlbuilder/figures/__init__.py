"""Plotly figures built from plain data (metric records, probe arrays, dataset arrays), never a model."""

from dlbuilder.figures.boundary import boundary_figure, regression_fit_figure, series_fit_figure, surface_figure
from dlbuilder.figures.curves import learning_rate_figure, loss_figure, metric_figure
from dlbuilder.figures.images import confusion_figure, image_grid_figure
from dlbuilder.figures.norms import norms_figure
from dlbuilder.figures.previews import dataset_preview_figure

__all__ = ["boundary_figure", "confusion_figure", "dataset_preview_figure", "image_grid_figure",
           "learning_rate_figure", "loss_figure", "metric_figure", "norms_figure",
           "regression_fit_figure", "series_fit_figure", "surface_figure"]
