"""Loss-landscape figures from probe arrays: a 3-D surface, a contour map with training paths, and
the 1-D interpolation curve. Each states the evaluation subset it was computed on.

They take the plain results of `dlbuilder.inspection.landscape` (LossSurface, TrainingPath,
Interpolation) or anything with the same fields; redrawn as a coarse grid is refined, they keep
the camera and zoom (one `uirevision` per figure).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (
    FONT_SIZE,
    HEIGHT,
    LINE_WIDTH,
    MARK_COLOUR,
    MARKER_SIZE,
    SERIES_COLOURS,
    as_array,
    axis,
    base_layout,
    build_figure,
)

COLOURSCALE = "Viridis"  # low loss dark, high loss bright; readable in grey and by colour-blind eyes
LOG_FLOOR = 1e-8  # losses at or below this draw as log10 = -8 (a perfect fit is 0)


def subset_note(examples: int) -> str:
    """The caption every landscape carries: which data its loss was computed on."""
    return f"loss of a fixed subset of {examples:,} examples"


def _values(loss, log_scale: bool) -> np.ndarray:
    """Loss as drawn: non-finite points (a diverged corner) left blank, log10 when asked."""
    values = as_array(loss)
    values = np.where(np.isfinite(values), values, np.nan)
    return np.log10(np.maximum(values, LOG_FLOOR)) if log_scale else values


def _colourbar(log_scale: bool) -> dict:
    return dict(title=dict(text="log10 loss" if log_scale else "loss", font=dict(size=FONT_SIZE)),
                tickfont=dict(size=FONT_SIZE))


def _note(layout: dict, examples: int) -> None:
    layout.setdefault("annotations", []).append(dict(
        text=subset_note(examples), xref="paper", yref="paper", x=0.0, y=0.0, xanchor="left", yanchor="top",
        yshift=-(2 * FONT_SIZE + 30), showarrow=False, font=dict(size=FONT_SIZE - 2, color=MARK_COLOUR)))
    layout["margin"]["b"] += 28  # under the x axis title


def loss_contour_figure(surface, paths: Sequence = (), axis_titles: tuple[str, str] = ("direction 1", "direction 2"),
                        log_scale: bool = True, mark_centre: bool = True, title: str = "",
                        height: int = 520) -> go.Figure:
    """A contour map of the loss over the plane, each training path drawn on it from start (o) to end (*)."""
    layout = base_layout(height, "loss-contour", axis_titles[0], axis_titles[1], title)
    traces = [dict(type="contour", x=as_array(surface.alphas), y=as_array(surface.betas),
                   z=_values(surface.loss, log_scale).astype(np.float32), colorscale=COLOURSCALE, ncontours=25,
                   colorbar=_colourbar(log_scale), name="loss",
                   hovertemplate="(%{x:.3g}, %{y:.3g})<br>" + ("log10 loss" if log_scale else "loss")
                   + " %{z:.3g}<extra></extra>")]
    if mark_centre:
        traces.append(dict(type="scatter", x=[0.0], y=[0.0], mode="markers", name="current weights",
                           marker=dict(symbol="x", size=MARKER_SIZE + 3, color="white",
                                       line=dict(width=2, color=MARK_COLOUR))))
    for index, path in enumerate(paths):
        traces += _path_traces(path, SERIES_COLOURS[index % len(SERIES_COLOURS)])
    _note(layout, surface.examples)
    return build_figure(traces, layout)


def _path_traces(path, colour: str) -> list[dict]:
    points = as_array(path.coordinates).reshape(-1, 2)
    epochs = as_array(path.epochs, np.int64)
    line = dict(type="scatter", x=points[:, 0], y=points[:, 1], mode="lines+markers", name=path.label,
                line=dict(width=LINE_WIDTH, color=colour), marker=dict(size=MARKER_SIZE - 3, color=colour),
                customdata=epochs, hovertemplate=f"{path.label}<br>epoch %{{customdata}}<extra></extra>")
    ends = dict(type="scatter", x=points[[0, -1], 0], y=points[[0, -1], 1], mode="markers+text",
                text=["start", "end"], textposition="top center", showlegend=False, name=f"{path.label} ends",
                textfont=dict(size=FONT_SIZE - 2, color=colour), hoverinfo="skip",
                marker=dict(symbol=["circle", "star"], size=MARKER_SIZE + 6, color=colour,
                            line=dict(width=2, color="white")))
    return [line, ends]


def loss_surface_figure(surface, paths: Sequence = (), axis_titles: tuple[str, str] = ("direction 1", "direction 2"),
                        log_scale: bool = False, title: str = "", height: int = 560) -> go.Figure:
    """The loss over the plane as a 3-D surface; paths drawn on it at their (on-plane) losses."""
    layout = base_layout(height, "loss-surface", title=title)
    values = _values(surface.loss, log_scale)
    traces = [dict(type="surface", x=as_array(surface.alphas), y=as_array(surface.betas), z=values.astype(np.float32),
                   colorscale=COLOURSCALE, colorbar=_colourbar(log_scale), name="loss", opacity=0.9,
                   hovertemplate="(%{x:.3g}, %{y:.3g})<br>%{z:.3g}<extra></extra>")]
    for index, path in enumerate(paths):
        points = as_array(path.coordinates).reshape(-1, 2)
        height_on_surface = _values(path.loss, log_scale)
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        traces.append(dict(type="scatter3d", x=points[:, 0], y=points[:, 1], z=height_on_surface,
                           mode="lines+markers", name=path.label, line=dict(width=6, color=colour),
                           marker=dict(size=3, color=colour)))
    z_title = "log10 loss" if log_scale else "loss"
    layout["scene"] = dict(xaxis=_scene_axis(axis_titles[0]), yaxis=_scene_axis(axis_titles[1]),
                           zaxis=_scene_axis(z_title),
                           aspectmode="cube", camera=dict(eye=dict(x=1.5, y=-1.5, z=1.0)))
    _note(layout, surface.examples)
    return build_figure(traces, layout)


def _scene_axis(title: str) -> dict:
    """A 3-D axis in the shared look (3-D scenes have no `automargin`)."""
    settings = axis(title)
    del settings["automargin"]
    return settings


def interpolation_figure(curve, title: str = "", height: int = HEIGHT) -> go.Figure:
    """Goodfellow et al.'s curve: the loss from the initial (alpha 0) to the final weights (alpha 1)."""
    layout = base_layout(height, "interpolation", "alpha  (0 = initial weights, 1 = final weights)", "loss", title)
    alphas, loss = as_array(curve.alphas), _values(curve.loss, False)
    traces = [dict(type="scatter", x=alphas, y=loss, mode="lines", name="loss", showlegend=False,
                   line=dict(width=LINE_WIDTH, color=SERIES_COLOURS[0]),
                   hovertemplate="alpha %{x:.2f}<br>loss %{y:.4g}<extra></extra>")]
    for alpha, label, symbol in ((0.0, "initial", "circle"), (1.0, "final", "star")):
        at = np.interp(alpha, alphas, loss) if len(alphas) else np.nan
        traces.append(dict(type="scatter", x=[alpha], y=[at], mode="markers+text", text=[label],
                           textposition="top center", name=label, showlegend=False, cliponaxis=False,
                           marker=dict(symbol=symbol, size=MARKER_SIZE + 4, color=MARK_COLOUR)))
    _note(layout, curve.examples)
    return build_figure(traces, layout)
