"""Shared look of every figure: projector-sized fonts, thick lines, one colour per split and class."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

FONT_SIZE = 16
TITLE_SIZE = 18
LINE_WIDTH = 3
MARKER_SIZE = 9
HEIGHT = 380
MARGIN = dict(l=64, r=16, t=48, b=56)
FONT_FAMILY = "Arial, Helvetica, sans-serif"

SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
PREVIOUS_DASH = "dash"
MARK_COLOUR = "#444444"  # best-epoch and early-stop markers
WRONG_COLOUR = "#d62728"
RIGHT_COLOUR = "#222222"

# Playground: class 0 (its -1) orange, class 1 (its +1) blue, white where the net is unsure
PLAYGROUND_ORANGE = "#f59322"
PLAYGROUND_BLUE = "#0877bd"
NEUTRAL = "#f2f2f2"
DIVERGING = [[0.0, PLAYGROUND_ORANGE], [0.5, NEUTRAL], [1.0, PLAYGROUND_BLUE]]
# colour-blind-friendly (Okabe-Ito, then Tableau) for 3 or more classes
QUALITATIVE = ("#e69f00", "#0072b2", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#f0e442",
               "#000000", "#8c564b", "#7f7f7f")
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf")


def class_colours(num_classes: int) -> list[str]:
    """Orange and blue for two classes (as in Playground), a qualitative palette otherwise."""
    if num_classes <= 2:
        return [PLAYGROUND_ORANGE, PLAYGROUND_BLUE]
    return [QUALITATIVE[c % len(QUALITATIVE)] for c in range(num_classes)]


def mix_with_white(colour: str, amount: float) -> str:
    """`colour` faded towards white: amount 1 keeps it, 0 gives white (for confidence shading)."""
    channels = [round(255 - (255 - int(colour[i:i + 2], 16)) * amount) for i in (1, 3, 5)]
    return "rgb({},{},{})".format(*channels)


def as_array(values, dtype=np.float64) -> np.ndarray:
    """A numpy array from lists, numpy or CPU/GPU tensors (figures never need torch itself)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


GRID_COLOUR = "#EBF0F8"  # plotly_white's grid


def downsample(count: int, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` evenly spread rows of `count`, always with the last one."""
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, max_points).round().astype(np.int64))


def axis(title: str = "", **extra) -> dict:
    """One axis of the shared look: large tick labels and title, plotly_white's pale grid."""
    return {"title": {"text": title, "font": {"size": FONT_SIZE}}, "tickfont": {"size": FONT_SIZE},
            "gridcolor": GRID_COLOUR, "linecolor": GRID_COLOUR, "zerolinecolor": GRID_COLOUR,
            "zerolinewidth": 2, "automargin": True, **extra}


def base_layout(height: int = HEIGHT, uirevision: str = "figure", x_title: str = "",
                y_title: str = "", title: str = "") -> dict:
    """The shared layout as a plain dict: large fonts, tight margins, legend on top.

    No named template: copying "plotly_white" into every figure cost ~25 ms, too slow for a
    dashboard redrawn 5 times a second; these few settings give the same white look.
    """
    return {
        "template": "none", "height": height,
        "margin": {**MARGIN, "t": MARGIN["t"] + (36 if title else 0)}, "uirevision": uirevision,
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "font": {"size": FONT_SIZE, "family": FONT_FAMILY},
        "title": {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.01, "y": 0.99, "yanchor": "top"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0,
                   "font": {"size": FONT_SIZE}},
        "hoverlabel": {"font": {"size": FONT_SIZE}},
        "xaxis": axis(x_title), "yaxis": axis(y_title)}


def build_figure(traces: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
    """Wrap plain trace and layout dicts in a Figure once, without plotly's validation.

    Building through the object API (update_layout, add_trace, add_vline) cost 20-40 ms per
    figure, validating and deep-copying every property; this costs a few ms. Our builders make
    valid figures: tests/test_figures.py rebuilds each one with validation on to prove it.
    Under projector mode (`set_scale_source`) fonts, lines, markers and the height grow.
    """
    scale = _scale_source()
    if scale != 1.0:
        traces, layout = [scaled(trace, "trace", scale) for trace in traces], scaled(layout, "layout", scale)
        frames = [{**frame, "data": [scaled(t, "trace", scale) for t in frame.get("data", [])]}
                  for frame in frames or []]
    figure = {"data": traces, "layout": layout}
    if frames:
        figure["frames"] = frames
    return go.Figure(figure, _validate=False)


# -- projector mode: one scale for every figure a viewer sees ------------------------------------------

def _no_scale() -> float:
    return 1.0


_scale_source: Callable[[], float] = _no_scale


def set_scale_source(source: Callable[[], float] | None) -> None:
    """Let the UI say how large the current viewer wants figures (1 = as designed; None resets).

    The engine never knows about sessions: the UI registers a function that reads the viewer's
    projector switch, and every figure built through `build_figure` asks it once.
    """
    global _scale_source  # noqa: PLW0603 (one hook, set once by the UI)
    _scale_source = source or _no_scale


def scaled(value: Any, key: str, scale: float) -> Any:
    """A copy of a figure part with font sizes x scale (legends x (1 + (scale-1)/2)), line widths and marker
    sizes x (1 + (scale-1)/2), margins x scale and the layout's height x (1 + (scale-1)*0.8); data arrays are
    shared, never copied."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
        return [scaled(item, key, scale) for item in value]  # annotations, shapes
    if not isinstance(value, dict):
        return value
    thicker, taller = 1 + (scale - 1) / 2, 1 + (scale - 1) * 0.8
    result = {}
    for name, item in value.items():
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if name == "size" and key.endswith("font"):
                item = item * scale
            elif (name == "size" and key == "marker") or (name == "width" and key == "line"):
                item = item * thicker
            elif key == "margin" and name in ("l", "r", "t", "b"):
                item = item * scale
            elif key == "layout" and name == "height":
                item = round(item * taller)
        elif isinstance(item, (dict, list, tuple)):  # a legend grows less: it must stay beside the plot
            item = scaled(item, name, thicker if name == "legend" else scale)
        result[name] = item
    return result


def equal_axes(layout: dict, x_range, y_range) -> None:
    """One unit is as long on x as on y, clipped to the given ranges (2-D data); edits `layout`."""
    layout["xaxis"].update(range=[float(v) for v in x_range], constrain="domain", zeroline=False,
                           showgrid=False)
    layout["yaxis"].update(range=[float(v) for v in y_range], scaleanchor="x", scaleratio=1,
                           constrain="domain", zeroline=False, showgrid=False)
