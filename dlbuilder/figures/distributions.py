"""Weights, activations and gradients: histograms over epochs (heat map or ridge, as TensorBoard's
histogram dashboard), dead ReLU units, per-layer gradient norms and the gradient check's result.

Inputs are plain data: `StackedHistograms`, `DeadUnits` and `GradientCheck` from
`dlbuilder.inspection` hold only numbers and names.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.images import BLUE_SCALE
from dlbuilder.figures.style import (
    FONT_SIZE,
    HEIGHT,
    LINE_WIDTH,
    MARK_COLOUR,
    SERIES_COLOURS,
    WRONG_COLOUR,
    as_array,
    axis,
    base_layout,
    build_figure,
    mix_with_white,
)

PASS_COLOUR = "#009e73"  # Okabe-Ito green
ROW_HEIGHT = 150  # pixels per layer in the heat map
ROW_GAP_PIXELS = 64  # between two layers' rows: room for the upper row's value ticks and the next title
RIDGE_LINES = 24  # epochs drawn at most in a ridge plot (evenly chosen, last included)
RIDGE_OVERLAP = 2.5  # how many rows a peak may rise over: TensorBoard's "offset" look
KIND_NAMES = {"weights": "weights", "activations": "activations (outputs)", "gradients": "gradients of the loss"}


def _shares(counts: np.ndarray) -> np.ndarray:
    """Counts (E, bins) as the share of each epoch's values per bin (rows sum to 1, empty rows 0)."""
    counts = as_array(counts)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _centres(edges) -> np.ndarray:
    edges = as_array(edges)
    return (edges[:-1] + edges[1:]) / 2


def _axis_id(index: int) -> str:
    return "" if index == 0 else str(index + 1)


def histogram_heatmap_figure(stacks: Sequence, height: int | None = None) -> go.Figure:
    """One heat map per layer: value (x) by epoch (y), colour = share of the layer's values in the bin."""
    rows = max(1, len(stacks))
    height = height or 70 + (ROW_HEIGHT + ROW_GAP_PIXELS) * rows
    gap = ROW_GAP_PIXELS / height  # as a share of the plot's height
    size = (1 - gap * (rows - 1)) / rows
    kind = stacks[0].kind if stacks else "weights"
    layout = base_layout(height, f"histograms-{kind}", title=KIND_NAMES.get(kind, kind))
    traces, annotations = [], []
    for row, stack in enumerate(stacks):
        top = 1 - row * (size + gap)
        suffix = _axis_id(row)
        layout[f"xaxis{suffix}"] = axis("value" if row == rows - 1 else "", anchor=f"y{suffix}",
                                        domain=[0, 1], showgrid=False, exponentformat="power")
        layout[f"yaxis{suffix}"] = axis("epoch", anchor=f"x{suffix}", domain=[max(0.0, top - size), top],
                                        showgrid=False)
        epochs = as_array(stack.epochs)
        traces.append(dict(
            type="heatmap", x=_centres(stack.edges), y=epochs, z=_shares(stack.counts), xaxis=f"x{suffix}",
            yaxis=f"y{suffix}", colorscale=BLUE_SCALE, zmin=0, showscale=False,
            hovertemplate=f"{stack.node}<br>epoch %{{y}}<br>value %{{x:.3g}}<br>%{{z:.1%}} of values"
                          "<extra></extra>"))
        annotations.append(dict(text=stack.node, x=0.0, y=top, xref="paper", yref="paper", xanchor="left",
                                yanchor="bottom", showarrow=False, font=dict(size=FONT_SIZE)))
    layout["annotations"] = annotations
    return build_figure(traces, layout)


def ridge_figure(stack, height: int = 2 * HEIGHT) -> go.Figure:
    """One layer's histograms stacked by epoch, oldest at the back (top), newest in front (bottom).

    Heights follow the square root of each bin's share of values (the epoch labels are the y axis)."""
    epochs = as_array(stack.epochs, np.int64)
    keep = np.unique(np.linspace(0, len(epochs) - 1, min(RIDGE_LINES, len(epochs))).round().astype(np.int64))
    # heights grow with the square root of the share: a spike (ReLU's zeros) does not flatten the rest
    heights = np.sqrt(_shares(np.asarray(stack.counts)[keep]))
    peak = float(heights.max()) if heights.size and heights.max() > 0 else 1.0
    x = _centres(stack.edges)
    layout = base_layout(height, f"ridge-{stack.kind}-{stack.node}", "value", "epoch",
                         f"{stack.node}: {KIND_NAMES.get(stack.kind, stack.kind)}")
    layout["showlegend"] = False
    layout["yaxis"].update(tickvals=[-i for i in range(len(keep))], ticktext=[str(e) for e in epochs[keep]],
                           showgrid=False, zeroline=False)
    layout["xaxis"].update(exponentformat="power")
    traces = []
    for i, row in enumerate(heights):  # oldest first: later traces draw over earlier ones
        base = -float(i)
        level = 0.25 + 0.75 * (i / max(1, len(keep) - 1))  # older epochs paler
        colour = mix_with_white(SERIES_COLOURS[0], level)  # opaque: a newer ridge hides the one behind
        traces.append(dict(
            type="scatter", x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([base + RIDGE_OVERLAP * row / peak, np.full(len(x), base)]),
            mode="lines", fill="toself", fillcolor=colour, line=dict(color="white", width=1),
            name=f"epoch {epochs[keep][i]}", hoverinfo="name"))
    return build_figure(traces, layout)


def dead_units_figure(dead: Mapping, height: int = HEIGHT) -> go.Figure:
    """Share of each ReLU layer's units that never fire on the batch, with "dead of units" written on."""
    names = list(dead)
    percent = [100 * dead[n].dead / dead[n].units if dead[n].units else 0.0 for n in names]
    layout = base_layout(height, "dead-relu", "layer", "dead units (%)")
    layout["xaxis"].update(type="category", showgrid=False)
    layout["yaxis"].update(range=[0, 105])
    bar = dict(type="bar", x=names, y=percent, name="dead units", marker=dict(color=WRONG_COLOUR),
               text=[f"{dead[n].dead} of {dead[n].units}" for n in names], textposition="outside",
               textfont=dict(size=FONT_SIZE), cliponaxis=False,
               hovertemplate="%{x}: %{y:.0f}% dead<extra></extra>")
    return build_figure([bar], layout)


def gradient_norm_figure(norms: Mapping[str, float], height: int = HEIGHT) -> go.Figure:
    """Gradient norm of each layer on a log axis, input to output: vanishing gradients shrink to the left."""
    names = list(norms)
    values = np.array([norms[n] for n in names], dtype=np.float64)
    values[~(values > 0)] = np.nan  # a log axis cannot show 0
    layout = base_layout(height, "gradient-norms", "layer (input to output)", "gradient norm (L2, log scale)")
    layout["xaxis"].update(type="category", showgrid=False)
    layout["yaxis"].update(type="log", exponentformat="power")
    bar = dict(type="bar", x=names, y=values, name="gradient norm", marker=dict(color=SERIES_COLOURS[0]),
               hovertemplate="%{x}: %{y:.3g}<extra></extra>")
    return build_figure([bar], layout)


def gradient_check_figure(check, height: int = HEIGHT) -> go.Figure:
    """Largest relative error per layer (log axis), green within the tolerance, red above it."""
    layers = check.layers
    names = [layer.node for layer in layers]
    errors = np.array([np.nan if layer.max_error is None else max(layer.max_error, 1e-16) for layer in layers])
    colours = [PASS_COLOUR if layer.passed else WRONG_COLOUR if layer.passed is False else MARK_COLOUR
               for layer in layers]
    labels = [layer.status if layer.max_error is None else f"{layer.max_error:.0e}" for layer in layers]
    layout = base_layout(height, "gradient-check", "layer", "largest relative error (log scale)",
                         f"gradient check: {'pass' if check.passed else 'FAIL'} "
                         f"(tolerance {check.tolerance:g}, float64, h = {check.step:g})")
    layout["xaxis"].update(type="category", showgrid=False)
    low = np.nanmin(errors) if np.isfinite(errors).any() else check.tolerance
    layout["yaxis"].update(type="log", exponentformat="power",
                           range=[np.log10(min(low, check.tolerance)) - 1, 1])
    bars = dict(type="bar", x=names, y=errors, name="largest relative error", marker=dict(color=colours),
                text=labels, textposition="outside", textfont=dict(size=FONT_SIZE), cliponaxis=False,
                hovertemplate="%{x}: %{y:.2e}<extra></extra>")
    # a bar-less layer still gets its status written where its bar would be
    notes = [dict(text=layer.status, x=layer.node, y=0, xref="x", yref="paper", yanchor="bottom",
                  showarrow=False, font=dict(size=FONT_SIZE, color=MARK_COLOUR), textangle=-90)
             for layer in layers if layer.max_error is None]
    if notes:
        layout["annotations"] = notes
    layout["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=check.tolerance,
                             y1=check.tolerance, line=dict(color=MARK_COLOUR, width=LINE_WIDTH, dash="dash"))]
    return build_figure([bars], layout)
