"""A 2-unit bottleneck: the codes of examples coloured by class, and the images decoded over the code plane.

Reconstructions beside their inputs are `figures.images.reconstruction_figure`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.images import GREY_SCALE
from dlbuilder.figures.style import MARKER_SIZE, as_array, base_layout, build_figure, class_colours

GAP = 1  # blank pixels between decoded images in the mosaic


def code_scatter_figure(codes, labels, class_names: Sequence[str] = (), height: int = 520) -> go.Figure:
    """Each example at its 2-D code, one colour (and legend entry) per class."""
    codes, labels = as_array(codes), as_array(labels, np.int64).reshape(-1)
    classes = sorted(set(labels.tolist()))
    colours = class_colours(max(classes, default=0) + 1)
    layout = base_layout(height, "codes", "code 1", "code 2")
    traces = []
    for label in classes:
        rows = labels == label
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        traces.append(dict(type="scattergl", x=codes[rows, 0], y=codes[rows, 1], mode="markers", name=name,
                           marker=dict(color=colours[label % len(colours)], size=MARKER_SIZE - 2, opacity=0.8),
                           hovertemplate=f"class {name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>"))
    return build_figure(traces, layout)


def mosaic(images: np.ndarray) -> np.ndarray:
    """Images (rows, columns, H, W) tiled into one (rows*(H+GAP), columns*(W+GAP)) array, gaps NaN.

    Row 0 of the grid (the smallest code 2) goes at the bottom, so the mosaic reads like a plot.
    """
    rows, columns, height, width = images.shape
    tiled = np.full((rows * (height + GAP) - GAP, columns * (width + GAP) - GAP), np.nan, dtype=np.float32)
    for row in range(rows):
        top = (rows - 1 - row) * (height + GAP)
        for column in range(columns):
            left = column * (width + GAP)
            tiled[top:top + height, left:left + width] = images[row, column]
    return tiled


def _ticks(values: np.ndarray, size: int, flip: bool) -> dict:
    """Tick positions at each image's centre labelled with its code value."""
    count = len(values)
    positions = [i * (size + GAP) + (size - 1) / 2 for i in range(count)]
    labels = [f"{v:.2g}" for v in (values[::-1] if flip else values)]
    step = max(1, count // 6)  # a handful of labels stay readable
    return dict(tickvals=positions[::step], ticktext=labels[::step])


def code_grid_figure(grid, height: int = 560) -> go.Figure:
    """Grey images decoded from a grid of codes, laid out at their codes (code 1 across, code 2 up)."""
    images = as_array(grid.images)
    if images.ndim != 4:
        raise ValueError(f"decoded examples are not single-channel images (shape {images.shape[2:]}): "
                         "a code grid needs a network that rebuilds images")
    tiled = mosaic(images)
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    low, high = (0.0, 1.0) if low >= 0 and high <= 1 else (low, high)  # pixels in [0, 1] keep their grey
    layout = base_layout(height, "code-grid", "code 1", "code 2")
    layout["xaxis"].update(showgrid=False, zeroline=False, constrain="domain",
                           **_ticks(as_array(grid.xs), images.shape[3], False))
    layout["yaxis"].update(showgrid=False, zeroline=False, scaleanchor="x", autorange="reversed",
                           constrain="domain", **_ticks(as_array(grid.ys), images.shape[2], True))
    heatmap = dict(type="heatmap", z=tiled, colorscale=GREY_SCALE, zmin=low, zmax=high, showscale=False,
                   hoverinfo="skip")
    return build_figure([heatmap], layout)
