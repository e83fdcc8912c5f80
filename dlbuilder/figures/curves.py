"""Training curves from metric records: loss, accuracy / R², learning rate.

Redrawn 5 times a second while training, so built as plain dicts (see style.build_figure).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (
    FONT_SIZE,
    HEIGHT,
    LINE_WIDTH,
    MARK_COLOUR,
    MARKER_SIZE,
    PREVIOUS_DASH,
    SPLIT_COLOURS,
    SPLIT_NAMES,
    base_layout,
    build_figure,
    downsample,
)

MAX_EPOCH_POINTS = 1000  # per line; the stream keeps at most 2,000 records anyway
MAX_STEP_POINTS = 800
METRIC_TITLES = {"accuracy": "accuracy (%)", "r2": "R²"}


def epoch_values(epochs: Sequence, attribute: str, factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(epoch numbers, values) of one EpochRecord field, skipping missing and non-finite values."""
    pairs = [(record.epoch, getattr(record, attribute) * factor) for record in epochs
             if getattr(record, attribute) is not None and math.isfinite(getattr(record, attribute))]
    if not pairs:
        return np.empty(0), np.empty(0)
    x, y = np.array(pairs, dtype=np.float64).T
    keep = downsample(len(x), MAX_EPOCH_POINTS)
    return x[keep], y[keep]


def _split_lines(epochs: Sequence, attributes: dict[str, str], factor: float = 1.0,
                 previous: bool = False) -> list[dict]:
    """One line per split (train, val, test) of `attributes` split -> field; dashed for a previous run."""
    traces = []
    for split, attribute in attributes.items():
        x, y = epoch_values(epochs, attribute, factor)
        if not len(x):
            continue
        name = SPLIT_NAMES[split]
        traces.append(dict(
            type="scatter", x=x, y=y, mode="lines+markers" if len(x) == 1 else "lines",
            name=f"previous run: {name}" if previous else name,
            line=dict(color=SPLIT_COLOURS[split], width=LINE_WIDTH, dash=PREVIOUS_DASH if previous else "solid"),
            marker=dict(size=MARKER_SIZE), opacity=0.55 if previous else 1.0, legendgroup=name,
            hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))
    return traces


def _updates_per_epoch(epochs: Sequence) -> float:
    last = epochs[-1] if epochs else None
    return last.step / last.epoch if last and last.epoch else 1.0


def _step_loss(steps: Sequence, updates_per_epoch: float) -> dict:
    """Every mini-batch loss, faint behind the epoch lines; x in epochs (step / updates per epoch)."""
    keep = downsample(len(steps), MAX_STEP_POINTS)
    x = np.array([steps[i].step for i in keep], dtype=np.float64) / max(updates_per_epoch, 1e-12)
    y = np.array([steps[i].loss for i in keep], dtype=np.float64)
    return dict(type="scatter", x=x, y=y, mode="lines", name="mini-batch loss", opacity=0.25,
                line=dict(color=SPLIT_COLOURS["train"], width=LINE_WIDTH),
                hovertemplate="mini-batch<br>epoch %{x:.2f}<br>%{y:.4g}<extra></extra>")


def _value_at(epochs: Sequence, epoch: int) -> float | None:
    """Validation loss (train loss without validation) of the record nearest to `epoch`."""
    if not epochs:
        return None
    record = min(epochs, key=lambda r: abs(r.epoch - epoch))
    value = record.val_loss if record.val_loss is not None else record.train_loss
    return value if value is not None and math.isfinite(value) else None


def _mark_epoch(layout: dict, epoch: int, text: str, dash: str, right: bool, y: float) -> None:
    """A vertical line at `epoch`, labelled at height `y` (0-1 of the plot) on its right or left."""
    layout.setdefault("shapes", []).append(dict(
        type="line", x0=epoch, x1=epoch, xref="x", y0=0, y1=1, yref="y domain",
        line=dict(color=MARK_COLOUR, width=LINE_WIDTH, dash=dash)))
    layout.setdefault("annotations", []).append(dict(
        x=epoch, y=y, xref="x", yref="paper", text=text, showarrow=False,
        xanchor="left" if right else "right", yanchor="top", xshift=6 if right else -6,
        font=dict(size=FONT_SIZE, color=MARK_COLOUR), bgcolor="rgba(255,255,255,0.7)"))


def _mark_best(layout: dict, epochs: Sequence, best_epoch: int) -> list[dict]:
    """The best-epoch line and label, and a star on the loss there (if it is known)."""
    _mark_epoch(layout, best_epoch, f"best epoch {best_epoch}", "dot", right=True, y=1.0)
    value = _value_at(epochs, best_epoch)
    if value is None:
        return []
    return [dict(type="scatter", x=[best_epoch], y=[value], mode="markers", name="best epoch",
                 marker=dict(symbol="star", size=MARKER_SIZE * 2, color=MARK_COLOUR),
                 hovertemplate="best epoch %{x}<br>loss %{y:.4g}<extra></extra>")]


def _mark_stop(layout: dict, stopped_epoch: int) -> None:
    # one row lower than the best-epoch label, so the two never overlap
    _mark_epoch(layout, stopped_epoch, f"early stop (epoch {stopped_epoch})", "dash", right=False, y=0.88)


def loss_figure(epochs: Sequence, steps: Sequence | None = None, log_scale: bool = False,
                best_epoch: int | None = None, previous: Sequence | None = None,
                stopped_epoch: int | None = None, updates_per_epoch: float | None = None,
                height: int = HEIGHT) -> go.Figure:
    """Train, validation (or test) loss per epoch, with mini-batch noise, best epoch, stop and a previous run."""
    layout = base_layout(height, "loss", "epoch", "loss")
    # records carry a test score only when there is no validation split (Playground's train/test view)
    attributes = {"train": "train_loss", "val": "val_loss", "test": "test_loss"}
    traces = [_step_loss(steps, updates_per_epoch or _updates_per_epoch(epochs))] if steps else []
    if previous:
        traces += _split_lines(previous, attributes, previous=True)
    traces += _split_lines(epochs, attributes)
    if best_epoch is not None:
        traces += _mark_best(layout, epochs, best_epoch)
    if stopped_epoch is not None:
        _mark_stop(layout, stopped_epoch)
    if log_scale:
        layout["yaxis"]["type"] = "log"
        layout["yaxis"]["title"]["text"] = "loss (log scale)"
    return build_figure(traces, layout)


def metric_figure(epochs: Sequence, metric_name: str, previous: Sequence | None = None,
                  height: int = HEIGHT) -> go.Figure:
    """Accuracy in % (metric_name "accuracy") or R² ("r2") per epoch: train, validation (or test)."""
    factor = 100.0 if metric_name == "accuracy" else 1.0
    title = METRIC_TITLES.get(metric_name, metric_name)
    layout = base_layout(height, f"metric-{metric_name}", "epoch", title)
    attributes = {"train": "train_metric", "val": "val_metric", "test": "test_metric"}
    traces = _split_lines(previous, attributes, factor, previous=True) if previous else []
    current = _split_lines(epochs, attributes, factor)
    if metric_name == "accuracy":
        layout["yaxis"]["range"] = [0, 101]
    elif metric_name == "r2":
        lowest = min([float(np.min(line["y"])) for line in current], default=0.0)
        layout["yaxis"]["range"] = [max(-1.0, lowest) - 0.05, 1.02]  # a wild first epoch stays off-scale
    return build_figure(traces + current, layout)


def learning_rate_figure(epochs: Sequence, height: int = HEIGHT) -> go.Figure:
    """The learning rate at the end of each epoch; log scale when it spans more than 20x."""
    layout = base_layout(height, "learning-rate", "epoch", "learning rate")
    layout["showlegend"] = False
    x, y = epoch_values(epochs, "learning_rate")
    line = dict(type="scatter", x=x, y=y, mode="lines+markers" if len(x) == 1 else "lines",
                name="learning rate", line=dict(color=MARK_COLOUR, width=LINE_WIDTH),
                marker=dict(size=MARKER_SIZE), hovertemplate="epoch %{x}<br>%{y:.3g}<extra></extra>")
    if len(y) and y.min() > 0 and y.max() / y.min() > 20:
        layout["yaxis"]["type"] = "log"
        # log axes take powers of ten; a little room so the line does not run along the frame
        layout["yaxis"]["range"] = [math.log10(y.min()) - 0.1, math.log10(y.max()) + 0.1]
    elif len(y):
        # From 0, with room above: plotly's own range for a flat line (0.03 everywhere) runs
        # -0.5 to 1 and shows 0.03 as 0; from 0 the height of the line is the rate.
        layout["yaxis"]["range"] = [0.0, max(float(y.max()), 0.0) * 1.2 or 1.0]
    layout["yaxis"]["exponentformat"] = "e"  # 1e-4, not plotly's SI "100µ"
    return build_figure([line], layout)
