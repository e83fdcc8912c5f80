"""Per-layer weight or gradient norms over epochs: vanishing and exploding gradients at a glance."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (
    HEIGHT,
    LINE_WIDTH,
    MARKER_SIZE,
    SERIES_COLOURS,
    base_layout,
    build_figure,
    downsample,
)

MAX_POINTS = 500  # per line
KINDS = {"grad": ("grad_norms", "gradient norm (L2, log scale)"),
         "weight": ("weight_norms", "weight norm (L2, log scale)")}


def node_order(epochs: Sequence, attribute: str) -> list[str]:
    """Node ids in the order they first appear (the network's order, input to output)."""
    seen: dict[str, None] = {}
    for record in epochs:
        seen.update(dict.fromkeys(getattr(record, attribute)))
    return list(seen)


def norms_figure(epochs: Sequence, kind: str = "grad", height: int = HEIGHT) -> go.Figure:
    """One line per node id of its gradient ("grad") or weight ("weight") norm, log y axis."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    attribute, title = KINDS[kind]
    layout = base_layout(height, f"norms-{kind}", "epoch", title)
    layout["yaxis"].update(type="log", exponentformat="power")
    keep = downsample(len(epochs), MAX_POINTS)
    records = [epochs[i] for i in keep]
    x = np.array([record.epoch for record in records], dtype=np.float64)
    traces = []
    for index, node in enumerate(node_order(records, attribute)):
        values = np.array([getattr(record, attribute).get(node, np.nan) for record in records],
                          dtype=np.float64)
        values[~(values > 0)] = np.nan  # a log axis cannot show 0: leave a gap
        traces.append(dict(
            type="scatter", x=x, y=values, mode="lines+markers" if len(x) == 1 else "lines", name=node,
            line=dict(color=SERIES_COLOURS[index % len(SERIES_COLOURS)], width=LINE_WIDTH),
            marker=dict(size=MARKER_SIZE),
            hovertemplate=f"{node}<br>epoch %{{x}}<br>%{{y:.3g}}<extra></extra>"))
    return build_figure(traces, layout)
