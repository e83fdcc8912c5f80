"""The exact loss surface of y = w*x + b as a 3-D surface and as a contour map, with optimizers' paths.

Both figures take a `LossSurface` and `DescentPath`s from `dlbuilder.inspection.linear_surface` (plain
arrays). A replay either draws every path up to `step` (a slider on the page) or, with `animate`,
carries Plotly frames with a play button and a step slider of its own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (FONT_SIZE, GRID_COLOUR, LINE_WIDTH, MARKER_SIZE, MARGIN, base_layout,
                                     build_figure, downsample, equal_axes)

# dark (low loss: the valley) to pale, so the coloured paths stand out on a projector
LOSS_SCALE = [[0.0, "#08306b"], [0.15, "#2171b5"], [0.4, "#6baed6"], [0.7, "#c6dbef"], [1.0, "#f7fbff"]]
PATH_COLOURS = ("#d62728", "#ff7f0e", "#2ca02c", "#e377c2", "#9467bd", "#8c564b", "#000000")
OPTIMUM_COLOUR = "#ffd700"
MAX_FRAMES = 40
FRAME_MS = 120
REPLAY_GAP = 70  # pixels between the plot and the play button, below the axis title
HEIGHT = 560


def _shown_until(path, step: int | None) -> int:
    """The last step of `path` to draw: `step`, or its end when `step` is None or beyond it."""
    last = len(path.w) - 1
    return last if step is None else int(np.clip(step, 0, last))


def _inside(path, surface) -> int:
    """How many leading points of `path` lie on the grid (a diverging path leaves it)."""
    w_low, w_high, b_low, b_high = surface.w[0], surface.w[-1], surface.b[0], surface.b[-1]
    slack = 1e-9 * (1 + abs(w_high - w_low) + abs(b_high - b_low))
    on_grid = ((path.w >= w_low - slack) & (path.w <= w_high + slack) & (path.b >= b_low - slack)
               & (path.b <= b_high + slack) & np.isfinite(path.loss))
    return len(on_grid) if on_grid.all() else int(np.argmin(on_grid))


def _hover(path) -> str:
    """Hover text of a path's points, customdata being (loss, step): in 3-D, z is lifted above the surface."""
    return (f"{path.label}<br>step %{{customdata[1]}}<br>w %{{x:.4g}}, b %{{y:.4g}}"
            "<br>loss %{customdata[0]:.4g}<extra></extra>")


def _points(path, rows, surface, lift: float) -> dict:
    """Coordinates of `rows` of the path (with z in 3-D), their loss and step number as customdata."""
    steps = np.arange(len(path.w))[rows]
    points = dict(type="scatter" if surface is None else "scatter3d", x=path.w[rows], y=path.b[rows],
                  customdata=np.stack([path.loss[rows], steps], axis=1))
    if surface is not None:
        points["z"] = path.loss[rows] + lift
    return points


def _moving_traces(path, upto: int, surface=None, lift: float = 0.0) -> list[dict]:
    """What a replay frame changes: the line up to step `upto` and its head (an x once diverged)."""
    count = upto + 1 if surface is None else max(1, min(upto + 1, _inside(path, surface)))
    diverged = path.diverged_at is not None and path.diverged_at <= upto
    name = f"{path.label}, diverged at step {path.diverged_at}" if diverged else path.label
    return [{**_points(path, slice(0, count), surface, lift), "name": name},
            {**_points(path, [count - 1], surface, lift), "marker": dict(symbol="x" if diverged else "diamond")}]


def _path_traces(path, colour: str, upto: int, surface=None, lift: float = 0.0) -> list[dict]:
    """The path up to step `upto` as a line, its head (diamond, or x once diverged) and its start (circle).

    With `surface` the traces are 3-D, drawn `lift` above the surface and cut where the path leaves the grid.
    """
    line, head = _moving_traces(path, upto, surface, lift)
    size = MARKER_SIZE if surface is None else MARKER_SIZE - 3  # 3-D markers look larger
    hover = _hover(path)
    line.update(mode="lines+markers", legendgroup=path.label, hovertemplate=hover,
                line=dict(color=colour, width=LINE_WIDTH + (2 if surface is not None else 0)),
                marker=dict(color=colour, size=size // 2))
    head.update(mode="markers", showlegend=False, legendgroup=path.label, hovertemplate=hover,
                marker=dict(head["marker"], color=colour, size=size + 6, line=dict(color="white", width=2)))
    start = {**_points(path, [0], surface, lift), "mode": "markers", "showlegend": False,
             "legendgroup": path.label, "hovertemplate": "start<br>" + hover,
             "marker": dict(color="white", size=size + 4, symbol="circle", line=dict(color=colour, width=3))}
    return [line, head, start]


def _all_path_traces(paths: Sequence, step: int | None, surface=None, lift: float = 0.0) -> list[dict]:
    return [trace for index, path in enumerate(paths)
            for trace in _path_traces(path, PATH_COLOURS[index % len(PATH_COLOURS)], _shown_until(path, step),
                                      surface, lift)]


def _add_replay(figure_dict: dict, paths: Sequence, first_trace: int, start_step: int, surface=None,
                lift: float = 0.0) -> None:
    """Frames (only each path's line and head change), a play / pause button and a step slider.

    Frames carry only coordinates: plotly.py validates frames even when figures skip validation,
    and full traces made 60 frames cost ~0.5 s to build. Edits `figure_dict`.
    """
    longest = max(len(path.w) for path in paths)
    steps = downsample(longest, MAX_FRAMES)
    traces = [first_trace + 3 * index + offset for index in range(len(paths)) for offset in (0, 1)]
    figure_dict["frames"] = [
        dict(name=str(step), traces=traces,
             data=[trace for path in paths for trace in _moving_traces(path, _shown_until(path, step), surface, lift)])
        for step in steps]
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    playing = dict(mode="immediate", fromcurrent=True, frame=dict(duration=FRAME_MS, redraw=True),
                   transition=dict(duration=0))
    layout = figure_dict["layout"]
    layout["updatemenus"] = [dict(
        type="buttons", direction="left", x=0.0, y=0.0, xanchor="left", yanchor="top",
        pad=dict(t=REPLAY_GAP, r=10), font=dict(size=FONT_SIZE), showactive=False,
        buttons=[dict(label="▶ play", method="animate", args=[None, playing]),
                 dict(label="❚❚ pause", method="animate", args=[[None], still])])]
    layout["sliders"] = [dict(
        active=int(np.searchsorted(steps, start_step)), x=0.3, len=0.7, y=0.0, yanchor="top",
        pad=dict(t=REPLAY_GAP - 10),
        currentvalue=dict(prefix="step ", font=dict(size=FONT_SIZE)), font=dict(size=FONT_SIZE - 4),
        steps=[dict(label=str(step), method="animate", args=[[str(step)], still]) for step in steps])]
    layout["margin"] = {**layout["margin"], "b": MARGIN["b"] + REPLAY_GAP + 60}
    layout["height"] += REPLAY_GAP + 60


def contour_figure(surface, paths: Sequence = (), step: int | None = None, animate: bool = False,
                   title: str = "", height: int = HEIGHT) -> go.Figure:
    """Contour map of L(w, b) with each path drawn up to `step` (all of it when None), start and end marked.

    Equal axes when the grid is square, so steps cross the contours as the gradient does. `animate`
    adds frames and a play button (starting at `step`, default 0).
    """
    layout = base_layout(height, "linear-surface-contour", "w (slope)", "b (intercept)", title)
    contour = dict(type="contour", x=surface.w, y=surface.b, z=surface.loss, colorscale=LOSS_SCALE, ncontours=24,
                   line=dict(width=0.5, color="white"), name="loss",
                   colorbar=dict(title=dict(text="loss (MSE)", side="right", font=dict(size=FONT_SIZE)),
                                 tickfont=dict(size=FONT_SIZE), thickness=18),
                   hovertemplate="w %{x:.4g}, b %{y:.4g}<br>loss %{z:.4g}<extra></extra>")
    optimum = dict(type="scatter", mode="markers", x=[surface.optimum[0]], y=[surface.optimum[1]],
                   name="least squares", marker=dict(symbol="star", size=MARKER_SIZE + 12, color=OPTIMUM_COLOUR,
                                                     line=dict(color="black", width=1.5)),
                   hovertemplate=f"least squares<br>w %{{x:.4g}}, b %{{y:.4g}}<br>loss {surface.minimum_loss:.4g}"
                                 "<extra></extra>")
    w_range, b_range = (surface.w[0], surface.w[-1]), (surface.b[0], surface.b[-1])
    if np.isclose(w_range[1] - w_range[0], b_range[1] - b_range[0]):
        equal_axes(layout, w_range, b_range)
    else:
        layout["xaxis"]["range"], layout["yaxis"]["range"] = list(map(float, w_range)), list(map(float, b_range))
    start_step = (step or 0) if animate else step
    figure_dict = {"data": [contour, optimum, *_all_path_traces(paths, start_step)], "layout": layout}
    if animate and paths:
        _add_replay(figure_dict, paths, 2, start_step)
    return build_figure(figure_dict["data"], figure_dict["layout"], figure_dict.get("frames"))


def _axis_3d(title: str, values) -> dict:
    return dict(title=dict(text=title, font=dict(size=FONT_SIZE)), tickfont=dict(size=FONT_SIZE - 3),
                gridcolor=GRID_COLOUR, range=[float(np.min(values)), float(np.max(values))])


def surface_figure(surface, paths: Sequence = (), step: int | None = None, animate: bool = False,
                   title: str = "", height: int = HEIGHT) -> go.Figure:
    """3-D surface of L(w, b) with each path drawn on it up to `step`, start and end marked.

    A path is drawn until it leaves the grid (a diverging one soon does: the contour map shows it
    further). `animate` adds frames and a play button (starting at `step`, default 0).
    """
    layout = base_layout(height, "linear-surface-3d", title=title)
    del layout["xaxis"], layout["yaxis"]
    layout["margin"] = {**layout["margin"], "l": 0, "r": 0}
    finite = surface.loss[np.isfinite(surface.loss)]
    lift = 0.01 * float(finite.max() - finite.min()) if finite.size else 0.0  # keeps paths above the surface
    layout["scene"] = dict(xaxis=_axis_3d("w", surface.w), yaxis=_axis_3d("b", surface.b),
                           zaxis=_axis_3d("loss", [finite.min(), finite.max() + lift]),
                           aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.7),
                           camera=dict(eye=dict(x=-0.9, y=-1.35, z=1.15)))
    bowl = dict(type="surface", x=surface.w, y=surface.b, z=surface.loss, colorscale=LOSS_SCALE, opacity=0.92,
                name="loss", showscale=False,
                contours=dict(z=dict(show=True, usecolormap=False, color="white", width=1)),
                hovertemplate="w %{x:.4g}, b %{y:.4g}<br>loss %{z:.4g}<extra></extra>")
    optimum = dict(type="scatter3d", mode="markers", name="least squares", x=[surface.optimum[0]],
                   y=[surface.optimum[1]], z=[surface.minimum_loss + lift],
                   marker=dict(symbol="diamond", size=MARKER_SIZE, color=OPTIMUM_COLOUR,
                               line=dict(color="black", width=2)),
                   hovertemplate=f"least squares<br>loss {surface.minimum_loss:.4g}<extra></extra>")
    start_step = (step or 0) if animate else step
    figure_dict = {"data": [bowl, optimum, *_all_path_traces(paths, start_step, surface, lift)], "layout": layout}
    if animate and paths:
        _add_replay(figure_dict, paths, 2, start_step, surface, lift)
    return build_figure(figure_dict["data"], figure_dict["layout"], figure_dict.get("frames"))
