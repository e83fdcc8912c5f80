"""Image classifiers: a grid of predictions (mistakes in red) and the confusion matrix."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.subplots import make_subplots

from dlbuilder.figures.style import (FONT_SIZE, MARGIN, RIGHT_COLOUR, WRONG_COLOUR, as_array,
                                     new_figure)

CELL_HEIGHT = 150  # pixels per row of images


def _class_name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def image_trace(image) -> BaseTraceType:
    """A grey image (H, W) in [0, 1] as a heatmap, or a colour image (3, H, W) as an image trace."""
    image = as_array(image)
    if image.ndim == 3 and image.shape[0] == 3:
        rgb = np.clip(image.transpose(1, 2, 0), 0, 1) * 255
        return go.Image(z=rgb.astype(np.uint8), hoverinfo="skip")
    image = image.reshape(image.shape[-2:]) if image.ndim == 3 else image
    return go.Heatmap(z=image.astype(np.float32), colorscale="gray", zmin=0, zmax=1, showscale=False,
                      hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>")


def grid_of_images(images: Sequence, titles: Sequence[str], title_colours: Sequence[str],
                   columns: int, height: int | None, uirevision: str) -> go.Figure:
    """Images in a grid, each with its own title and title colour; axes hidden, pixels square."""
    columns = max(1, min(columns, len(images)))
    rows = max(1, math.ceil(len(images) / columns))
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles),
                           horizontal_spacing=0.02, vertical_spacing=min(0.3 / rows, 0.12))
    for index, image in enumerate(images):
        figure.add_trace(image_trace(image), row=index // columns + 1, col=index % columns + 1)
        suffix = "" if index == 0 else str(index + 1)
        figure.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", autorange="reversed")
    for annotation, colour in zip(figure.layout.annotations, title_colours):
        annotation.font = dict(size=FONT_SIZE, color=colour)
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_layout(height=height or rows * CELL_HEIGHT + 40, margin={**MARGIN, "l": 8, "b": 8},
                         font=dict(size=FONT_SIZE), uirevision=uirevision, template="plotly_white",
                         showlegend=False)
    return figure


def image_grid_figure(samples: Sequence, class_names: Sequence[str] = (), columns: int = 8,
                      height: int | None = None) -> go.Figure:
    """Test images titled "pred 3 (92%)"; wrong ones in red with the true class below."""
    titles, colours = [], []
    for _, true, predicted, probability in samples:
        title = f"pred {_class_name(class_names, predicted)} ({probability:.0%})"
        wrong = true != predicted
        titles.append(title + (f"<br>true {_class_name(class_names, true)}" if wrong else ""))
        colours.append(WRONG_COLOUR if wrong else RIGHT_COLOUR)
    return grid_of_images([sample[0] for sample in samples], titles, colours, columns, height,
                          "image-grid")


def confusion_figure(matrix, class_names: Sequence[str] = (), height: int | None = None) -> go.Figure:
    """Counts of (true class, predicted class) as a heatmap with every count written in its cell."""
    counts = as_array(matrix, np.int64)
    names = [_class_name(class_names, index) for index in range(len(counts))]
    figure = new_figure(height or 160 + 44 * len(names), "confusion", "predicted class", "true class")
    figure.add_trace(go.Heatmap(
        z=counts, x=names, y=names, colorscale="Blues", showscale=False, texttemplate="%{z}",
        textfont=dict(size=FONT_SIZE), xgap=1, ygap=1,
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    figure.update_xaxes(type="category", side="bottom", showgrid=False)
    figure.update_yaxes(type="category", autorange="reversed", showgrid=False, scaleanchor="x")
    return figure
