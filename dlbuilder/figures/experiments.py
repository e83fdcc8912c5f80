"""Sweep figures from run results: a heat map over two settings, every run's curve overlaid, two runs compared.

Built from plain data (RunResult: labels, values and epoch records), never from a model.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from dlbuilder.experiments.results import Measure
from dlbuilder.figures.curves import epoch_values
from dlbuilder.figures.style import (
    FONT_SIZE,
    HEIGHT,
    LINE_WIDTH,
    MARKER_SIZE,
    SERIES_COLOURS,
    axis,
    base_layout,
    build_figure,
)

OTHER_COLOUR = "#9e9e9e"
# Viridis spelt out (plotly.js would take the name, but plotly.py's validation expands it: see style.build_figure)
VIRIDIS = [[i / 9, colour] for i, colour in enumerate(("#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                                                       "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"))]
PAIR_COLOURS = ("#1f77b4", "#d62728")  # first and second run of a comparison


def sweep_map_figure(x_values: Sequence[str], y_values: Sequence[str], z: Sequence[Sequence[float | None]],
                     measure: Measure, x_title: str, y_title: str, height: int = HEIGHT + 60,
                     held_out: str = "held-out") -> go.Figure:
    """A heat map over two settings: z[row][column] for (y value, x value), the number written in each cell.

    Empty cells (None: runs still training, or diverged) stay blank. Bright is better either way: the
    scale flips for losses.
    """
    title = measure.title.replace("held-out", held_out)
    layout = base_layout(height, f"sweep-map-{x_title}-{y_title}", x_title, y_title, title=title)
    layout["xaxis"] = axis(x_title, type="category", showgrid=False)
    layout["yaxis"] = axis(y_title, type="category", showgrid=False)
    trace = dict(type="heatmap", x=list(x_values), y=list(y_values), z=[list(row) for row in z],
                 colorscale=VIRIDIS, reversescale=measure.lower_is_better, texttemplate="%{z:.3g}",
                 textfont={"size": FONT_SIZE}, hoverongaps=False, xgap=2, ygap=2,
                 colorbar={"title": {"text": measure.short, "font": {"size": FONT_SIZE}}},
                 hovertemplate=f"{x_title} %{{x}}<br>{y_title} %{{y}}<br>{title} %{{z:.4g}}<extra></extra>")
    return build_figure([trace], layout)


def sweep_scatter_figure(x: Sequence, y: Sequence, values: Sequence[float | None], labels: Sequence[str],
                         measure: Measure, x_title: str, y_title: str, log_x: bool = False, log_y: bool = False,
                         height: int = HEIGHT + 60, held_out: str = "held-out") -> go.Figure:
    """A random search over two settings: one dot per run, coloured by `measure` (bright is better)."""
    title = measure.title.replace("held-out", held_out)
    layout = base_layout(height, f"sweep-points-{x_title}-{y_title}", x_title, y_title, title=title)
    for name, log in (("xaxis", log_x), ("yaxis", log_y)):
        if log:
            layout[name]["type"] = "log"
    trace = dict(type="scatter", x=list(x), y=list(y), mode="markers", text=list(labels),
                 marker=dict(size=MARKER_SIZE * 2, color=[v if v is not None else None for v in values],
                             colorscale=VIRIDIS, reversescale=measure.lower_is_better, showscale=True,
                             line=dict(color="#444444", width=1),
                             colorbar={"title": {"text": measure.short, "font": {"size": FONT_SIZE}}}),
                 hovertemplate=f"%{{text}}<br>{title} %{{marker.color:.4g}}<extra></extra>")
    return build_figure([trace], layout)


def _held_out_line(result) -> tuple[str, object, object]:
    """(what the line shows, epochs, values): the held-out loss, or the training loss without one."""
    for attribute, name in (("val_loss", "validation"), ("test_loss", "test")):
        x, y = epoch_values(result.epochs, attribute)
        if len(x):
            return f"{name} loss", x, y
    x, y = epoch_values(result.epochs, "train_loss")
    return "training loss", x, y


def overlay_figure(results: Sequence, selected: int | None, log_scale: bool = True,
                   height: int = HEIGHT + 40) -> go.Figure:
    """Every run's held-out loss per epoch in grey; the selected run in colour with its training loss dashed."""
    traces, shown_other, what = [], False, "loss"
    for result in results:
        if result.index == selected or not result.epochs:
            continue
        what, x, y = _held_out_line(result)
        traces.append(dict(type="scatter", x=x, y=y, mode="lines", name="other runs", legendgroup="others",
                           showlegend=not shown_other, line=dict(color=OTHER_COLOUR, width=1.5), opacity=0.6,
                           hovertemplate=f"{result.label}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))
        shown_other = True
    chosen = next((r for r in results if r.index == selected and r.epochs), None)
    if chosen is not None:
        what, x, y = _held_out_line(chosen)
        train_x, train_y = epoch_values(chosen.epochs, "train_loss")
        for name, xs, ys, dash in ((f"{chosen.label}: {what}", x, y, "solid"),
                                   (f"{chosen.label}: training loss", train_x, train_y, "dash")):
            traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", name=name,
                               line=dict(color=SERIES_COLOURS[0], width=LINE_WIDTH + 1, dash=dash),
                               hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))
    layout = base_layout(height, "sweep-overlay", "epoch", f"{what}{' (log scale)' if log_scale else ''}")
    if log_scale:
        layout["yaxis"].update(type="log", dtick="D2")  # 1, 2, 5 per decade: every digit crowded the axis
    return build_figure(traces, layout)


def comparison_figure(first, second, log_scale: bool = False, height: int = HEIGHT + 40) -> go.Figure:
    """Two runs' training (dashed) and held-out (solid) losses per epoch, one colour each."""
    traces = []
    for result, colour in zip((first, second), PAIR_COLOURS):
        what, x, y = _held_out_line(result)
        train_x, train_y = epoch_values(result.epochs, "train_loss")
        lines = [(what, x, y, "solid")] + ([("training loss", train_x, train_y, "dash")]
                                            if what != "training loss" else [])
        for name, xs, ys, dash in lines:
            label = f"{result.label}: {name}"
            traces.append(dict(type="scatter", x=xs, y=ys, mode="lines+markers" if len(xs) == 1 else "lines",
                               name=label, line=dict(color=colour, width=LINE_WIDTH, dash=dash),
                               hovertemplate=f"{label}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))
    layout = base_layout(height, "sweep-compare", "epoch", "loss (log scale)" if log_scale else "loss")
    if log_scale:
        layout["yaxis"].update(type="log", dtick="D2")
    return build_figure(traces, layout)
