"""Training curves from metric records: loss, accuracy / R², learning rate."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (FONT_SIZE, HEIGHT, LINE_WIDTH, MARK_COLOUR, MARKER_SIZE,
                                     PREVIOUS_DASH, SPLIT_COLOURS, SPLIT_NAMES, downsample,
                                     new_figure)

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


def _add_split_lines(figure: go.Figure, epochs: Sequence, attributes: dict[str, str],
                     factor: float = 1.0, previous: bool = False) -> None:
    """One line per split (train, val) of `attributes` split -> field; dashed for a previous run."""
    for split, attribute in attributes.items():
        x, y = epoch_values(epochs, attribute, factor)
        if not len(x):
            continue
        name = SPLIT_NAMES[split]
        dash = PREVIOUS_DASH if previous else "solid"
        figure.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers" if len(x) == 1 else "lines",
            name=f"previous run: {name}" if previous else name,
            line=dict(color=SPLIT_COLOURS[split], width=LINE_WIDTH, dash=dash),
            marker=dict(size=MARKER_SIZE), opacity=0.55 if previous else 1.0, legendgroup=name,
            hovertemplate=f"{name}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))


def _updates_per_epoch(epochs: Sequence) -> float:
    last = epochs[-1] if epochs else None
    return last.step / last.epoch if last and last.epoch else 1.0


def _add_step_loss(figure: go.Figure, steps: Sequence, updates_per_epoch: float) -> None:
    """Every mini-batch loss, faint behind the epoch lines; x in epochs (step / updates per epoch)."""
    keep = downsample(len(steps), MAX_STEP_POINTS)
    x = np.array([steps[i].step for i in keep], dtype=np.float64) / max(updates_per_epoch, 1e-12)
    y = np.array([steps[i].loss for i in keep], dtype=np.float64)
    figure.add_trace(go.Scatter(
        x=x, y=y, mode="lines", name="mini-batch loss", opacity=0.25,
        line=dict(color=SPLIT_COLOURS["train"], width=LINE_WIDTH),
        hovertemplate="mini-batch<br>epoch %{x:.2f}<br>%{y:.4g}<extra></extra>"))


def _value_at(epochs: Sequence, epoch: int) -> float | None:
    """Validation loss (train loss without validation) of the record nearest to `epoch`."""
    if not epochs:
        return None
    record = min(epochs, key=lambda r: abs(r.epoch - epoch))
    value = record.val_loss if record.val_loss is not None else record.train_loss
    return value if value is not None and math.isfinite(value) else None


def _mark_epoch(figure: go.Figure, epoch: int, text: str, dash: str, right: bool, y: float) -> None:
    """A vertical line at `epoch`, labelled at height `y` (0-1 of the plot) on its right or left."""
    figure.add_vline(x=epoch, line=dict(color=MARK_COLOUR, width=LINE_WIDTH, dash=dash))
    figure.add_annotation(x=epoch, y=y, xref="x", yref="paper", text=text, showarrow=False,
                          xanchor="left" if right else "right", yanchor="top", xshift=6 if right else -6,
                          font=dict(size=FONT_SIZE, color=MARK_COLOUR), bgcolor="rgba(255,255,255,0.7)")


def _mark_best(figure: go.Figure, epochs: Sequence, best_epoch: int) -> None:
    _mark_epoch(figure, best_epoch, f"best epoch {best_epoch}", "dot", right=True, y=1.0)
    value = _value_at(epochs, best_epoch)
    if value is not None:
        figure.add_trace(go.Scatter(
            x=[best_epoch], y=[value], mode="markers", name="best epoch",
            marker=dict(symbol="star", size=MARKER_SIZE * 2, color=MARK_COLOUR),
            hovertemplate="best epoch %{x}<br>loss %{y:.4g}<extra></extra>"))


def _mark_stop(figure: go.Figure, stopped_epoch: int) -> None:
    # one row lower than the best-epoch label, so the two never overlap
    _mark_epoch(figure, stopped_epoch, f"early stop (epoch {stopped_epoch})", "dash", right=False, y=0.88)


def loss_figure(epochs: Sequence, steps: Sequence | None = None, log_scale: bool = False,
                best_epoch: int | None = None, previous: Sequence | None = None,
                stopped_epoch: int | None = None, updates_per_epoch: float | None = None,
                height: int = HEIGHT) -> go.Figure:
    """Train and validation loss per epoch, with mini-batch noise, best epoch, stop and a previous run."""
    figure = new_figure(height, "loss", "epoch", "loss")
    if steps:
        _add_step_loss(figure, steps, updates_per_epoch or _updates_per_epoch(epochs))
    if previous:
        _add_split_lines(figure, previous, {"train": "train_loss", "val": "val_loss"}, previous=True)
    _add_split_lines(figure, epochs, {"train": "train_loss", "val": "val_loss"})
    if best_epoch is not None:
        _mark_best(figure, epochs, best_epoch)
    if stopped_epoch is not None:
        _mark_stop(figure, stopped_epoch)
    if log_scale:
        figure.update_yaxes(type="log", title_text="loss (log scale)")
    return figure


def metric_figure(epochs: Sequence, metric_name: str, previous: Sequence | None = None,
                  height: int = HEIGHT) -> go.Figure:
    """Accuracy in % (metric_name "accuracy") or R² ("r2") per epoch, train and validation."""
    factor = 100.0 if metric_name == "accuracy" else 1.0
    title = METRIC_TITLES.get(metric_name, metric_name)
    figure = new_figure(height, f"metric-{metric_name}", "epoch", title)
    attributes = {"train": "train_metric", "val": "val_metric"}
    if previous:
        _add_split_lines(figure, previous, attributes, factor, previous=True)
    _add_split_lines(figure, epochs, attributes, factor)
    if metric_name == "accuracy":
        figure.update_yaxes(range=[0, 101])
    elif metric_name == "r2":
        lowest = min([y.min() for _, y in (epoch_values(epochs, a) for a in attributes.values()) if len(y)],
                     default=0.0)
        figure.update_yaxes(range=[max(-1.0, lowest) - 0.05, 1.02])  # a wild first epoch stays off-scale
    return figure


def learning_rate_figure(epochs: Sequence, height: int = HEIGHT) -> go.Figure:
    """The learning rate at the end of each epoch; log scale when it spans more than 20x."""
    figure = new_figure(height, "learning-rate", "epoch", "learning rate")
    x, y = epoch_values(epochs, "learning_rate")
    figure.add_trace(go.Scatter(x=x, y=y, mode="lines+markers" if len(x) == 1 else "lines",
                                name="learning rate", line=dict(color=MARK_COLOUR, width=LINE_WIDTH),
                                marker=dict(size=MARKER_SIZE),
                                hovertemplate="epoch %{x}<br>%{y:.3g}<extra></extra>"))
    if len(y) and y.min() > 0 and y.max() / y.min() > 20:
        figure.update_yaxes(type="log")
    figure.update_layout(showlegend=False)
    return figure
