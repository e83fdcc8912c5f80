"""What a model learned, drawn from probe arrays: decision boundaries, fitted curves, surfaces.

Redrawn several times a second while training, so built as plain dicts (see style.build_figure).
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (
    DIVERGING,
    FONT_SIZE,
    HEIGHT,
    LINE_WIDTH,
    MARKER_SIZE,
    PLAYGROUND_BLUE,
    PLAYGROUND_ORANGE,
    SPLIT_COLOURS,
    SPLIT_NAMES,
    as_array,
    base_layout,
    build_figure,
    class_colours,
    downsample,
    equal_axes,
    mix_with_white,
)

LEVELS = 5  # confidence shades per class for 3 or more classes
BACKGROUND_STRENGTH = 0.6  # the most confident background cell: 60% colour, 40% white
PREDICTION_COLOUR = "#d62728"
TRUTH_COLOUR = "#333333"
MAX_LINE_POINTS = 2000
LIGHT_DIVERGING = [[0.0, mix_with_white(PLAYGROUND_ORANGE, BACKGROUND_STRENGTH)], DIVERGING[1],
                   [1.0, mix_with_white(PLAYGROUND_BLUE, BACKGROUND_STRENGTH)]]
POINT_OUTLINE = "white"


def signed_confidence(boundary) -> np.ndarray:
    """Two classes as one value in [-1, 1]: tanh(output) for one unit, else ±(2p - 1)."""
    if boundary.values is not None:
        return as_array(boundary.values)
    sign = np.where(as_array(boundary.classes) == 1, 1.0, -1.0)
    return sign * (2 * as_array(boundary.confidence) - 1)


def _stepped_colourscale(colours: list[str]) -> list[list]:
    """A colourscale giving integer z = i exactly colours[i] (with zmin -0.5, zmax n - 0.5)."""
    n = len(colours)
    scale = []
    for i, colour in enumerate(colours):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    return scale


def _class_background(boundary) -> dict:
    """K classes: one hue per predicted class, paler where the net is less sure."""
    k = boundary.num_classes
    confidence = np.clip((as_array(boundary.confidence) - 1 / k) / (1 - 1 / k), 0, 1)
    level = np.minimum((confidence * LEVELS).astype(np.int64), LEVELS - 1)
    z = as_array(boundary.classes, np.int64) * LEVELS + level
    colours = [mix_with_white(colour, BACKGROUND_STRENGTH * (level + 1) / LEVELS)
               for colour in class_colours(k) for level in range(LEVELS)]
    return dict(type="heatmap", x=as_array(boundary.xs), y=as_array(boundary.ys), z=z.astype(np.int16),
                colorscale=_stepped_colourscale(colours), zmin=-0.5, zmax=k * LEVELS - 0.5,
                showscale=False, customdata=as_array(boundary.confidence, np.float32),
                hovertemplate="(%{x:.2f}, %{y:.2f})<br>p = %{customdata:.2f}<extra></extra>",
                name="prediction")


def _two_class_background(boundary) -> dict:
    """Two classes: orange (class 0) through white (unsure) to blue (class 1), as in Playground."""
    values = signed_confidence(boundary).astype(np.float32)
    return dict(type="heatmap", x=as_array(boundary.xs), y=as_array(boundary.ys), z=values,
                colorscale=LIGHT_DIVERGING, zmin=-1, zmax=1, showscale=False,
                hovertemplate="(%{x:.2f}, %{y:.2f})<br>output %{z:.2f}<extra></extra>",
                name="prediction")


def class_points(points, labels, class_names: Sequence[str], test: bool) -> list[dict]:
    """Training points as filled circles per class; test points as outlined circles in one trace."""
    points, labels = as_array(points), as_array(labels, np.int64)
    colours = class_colours(max(len(class_names), int(labels.max(initial=1)) + 1))
    # class names can come from an uploaded file: escaped, Plotly shows tags in them as text
    names = [html.escape(str(class_names[c]), quote=False) if c < len(class_names) else f"class {c}"
             for c in range(len(colours))]
    if test:
        return [dict(
            type="scatter", x=points[:, 0], y=points[:, 1], mode="markers", name="test (outlined)",
            marker=dict(symbol="circle-open", size=MARKER_SIZE + 2, color=[colours[c] for c in labels],
                        line=dict(width=LINE_WIDTH)),
            text=[names[c] for c in labels], hovertemplate="test: %{text}<extra></extra>")]
    traces = []
    for c, colour in enumerate(colours):
        chosen = labels == c
        traces.append(dict(
            type="scatter", x=points[chosen, 0], y=points[chosen, 1], mode="markers", name=names[c],
            marker=dict(size=MARKER_SIZE, color=colour, line=dict(color=POINT_OUTLINE, width=1)),
            hovertemplate=f"train: {names[c]}<extra></extra>"))
    return traces


def boundary_figure(boundary, points_train, labels_train, points_test=None, labels_test=None,
                    class_names: Sequence[str] = (), height: int = 520) -> go.Figure:
    """Playground view: the net's prediction as background, train points filled, test points outlined."""
    layout = base_layout(height, "boundary", "x", "y")
    two = boundary.num_classes <= 2
    traces = [_two_class_background(boundary) if two else _class_background(boundary)]
    traces += class_points(points_train, labels_train, class_names, test=False)
    if points_test is not None and labels_test is not None and len(points_test):
        traces += class_points(points_test, labels_test, class_names, test=True)
    xs, ys = traces[0]["x"], traces[0]["y"]
    equal_axes(layout, (xs.min(), xs.max()), (ys.min(), ys.max()))
    return build_figure(traces, layout)


def value_points(points, values, limit: float, split: str) -> dict:
    """Regression targets at their 2-D points on the shared colour scale; test points ringed in black."""
    points, values = as_array(points), as_array(values).reshape(-1)
    test = split == "test"
    return dict(
        type="scatter", x=points[:, 0], y=points[:, 1], mode="markers", name=f"{SPLIT_NAMES[split]} targets",
        marker=dict(size=MARKER_SIZE + (1 if test else 0), color=values, colorscale=DIVERGING,
                    cmin=-limit, cmax=limit, line=dict(color="#111111" if test else "#777777",
                                                       width=1.8 if test else 1)),
        hovertemplate=f"{SPLIT_NAMES[split]}<br>target %{{marker.color:.3f}}<extra></extra>")


def largest_magnitude(*arrays) -> float:
    """The colour limit shared by a surface and its points: the largest |value| (1 if all are 0)."""
    return max([float(np.abs(as_array(a)).max(initial=0)) for a in arrays if a is not None]) or 1.0


def surface_figure(surface, points_train, values_train, points_test=None, values_test=None,
                   height: int = 520) -> go.Figure:
    """2-D regression: the predicted value as background, targets as points in the same colours."""
    layout = base_layout(height, "surface", "x", "y")
    values = as_array(surface.values)
    limit = largest_magnitude(values, values_train, values_test)
    xs, ys = as_array(surface.xs), as_array(surface.ys)
    traces = [dict(type="heatmap", x=xs, y=ys, z=values.astype(np.float32),
                   colorscale=LIGHT_DIVERGING, zmin=-limit, zmax=limit, showscale=False,
                   hovertemplate="(%{x:.2f}, %{y:.2f})<br>prediction %{z:.3f}<extra></extra>",
                   name="prediction"),
              value_points(points_train, values_train, limit, "train")]
    if points_test is not None and values_test is not None and len(points_test):
        traces.append(value_points(points_test, values_test, limit, "test"))
    equal_axes(layout, (xs.min(), xs.max()), (ys.min(), ys.max()))
    return build_figure(traces, layout)


def regression_fit_figure(x, predicted, points: dict | None = None, truth=None,
                          regions: dict | None = None, x_title: str = "x", y_title: str = "y",
                          truth_name: str = "true curve", truth_dash: str = "dash",
                          height: int = HEIGHT) -> go.Figure:
    """A prediction line over data points (split -> (x, y)), the true curve dashed, shaded regions."""
    layout = base_layout(height, "regression-fit", x_title, y_title)
    shade_regions(layout, regions or {})
    traces = []
    for split, (px, py) in (points or {}).items():
        px, py = as_array(px).reshape(-1), as_array(py).reshape(-1)
        traces.append(dict(type="scatter", x=px, y=py, mode="markers", name=SPLIT_NAMES.get(split, split),
                           marker=dict(size=MARKER_SIZE, color=SPLIT_COLOURS.get(split), opacity=0.8)))
    if truth is not None:
        traces.append(line_trace(truth[0], truth[1], truth_name, TRUTH_COLOUR, truth_dash))
    traces.append(line_trace(x, predicted, "prediction", PREDICTION_COLOUR, "solid", opacity=0.8))
    return build_figure(traces, layout)


def shade_regions(layout: dict, regions: dict) -> None:
    """Shade each split's x range (split -> (start, end)) in its colour, labelled at the top; edits `layout`."""
    for split, (start, end) in regions.items():
        start, end = _plain(start), _plain(end)
        layout.setdefault("shapes", []).append(dict(
            type="rect", x0=start, x1=end, xref="x", y0=0, y1=1, yref="y domain",
            fillcolor=SPLIT_COLOURS.get(split, "#999999"), opacity=0.1, line=dict(width=0)))
        layout.setdefault("annotations", []).append(dict(
            x=start, xref="x", y=1, yref="y domain", xanchor="left", yanchor="top", showarrow=False,
            text=SPLIT_NAMES.get(split, split), font=dict(size=FONT_SIZE)))


def line_trace(x, y, name: str, colour: str, dash: str, opacity: float = 1.0) -> dict:
    """A thick line of at most MAX_LINE_POINTS points; x may be numbers or dates."""
    x = x if np.asarray(x).dtype.kind == "M" else as_array(x).reshape(-1)
    y = as_array(y).reshape(-1)
    keep = downsample(len(y), MAX_LINE_POINTS)
    return dict(type="scatter", x=np.asarray(x)[keep], y=y[keep], mode="lines", name=name,
                line=dict(color=colour, width=LINE_WIDTH, dash=dash), opacity=opacity)


def _plain(value):
    """A region edge plotly can write: ISO text for a date, a float otherwise."""
    return str(value) if isinstance(value, np.datetime64) else float(value)


def day_axis(days, start_date: str | None):
    """Day numbers as dates from `start_date` (ISO), or unchanged without one."""
    days = np.asarray(days, dtype=np.int64)
    return np.datetime64(start_date, "D") + days if start_date else days


def series_fit_figure(prediction, start_date: str | None = None, height: int = HEIGHT) -> go.Figure:
    """True series with next-day predictions on top, train/validation/test periods shaded."""
    days = np.arange(len(prediction.series))
    regions = {split: tuple(day_axis([first, last], start_date)) for split, (first, last)
               in prediction.regions.items()}
    return regression_fit_figure(day_axis(prediction.days, start_date), prediction.predicted,
                                 truth=(day_axis(days, start_date), prediction.series), regions=regions,
                                 x_title="date" if start_date else "day", y_title=prediction.unit,
                                 truth_name="true series", truth_dash="solid", height=height)
