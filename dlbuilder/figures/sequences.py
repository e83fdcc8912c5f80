"""Sequence figures: attention per head, hidden states over time, gradients back through time, embeddings.

Token strings come from the data or from a student's typing: Plotly reads `<...>` in any
text as markup, so every token is escaped (`<unk>` stays visible) and cut to a bounded length.
Prediction tables are in `figures.sequence_tables`.
"""

from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.images import BLUE_SCALE
from dlbuilder.figures.style import (
    DIVERGING,
    FONT_SIZE,
    LINE_WIDTH,
    MARKER_SIZE,
    MARK_COLOUR,
    SERIES_COLOURS,
    as_array,
    axis,
    base_layout,
    build_figure,
    class_colours,
)

MAX_TOKEN_CHARS = 14  # a longer token is cut (with "…") on an axis or a label
MAX_STEPS = 200  # time steps drawn; longer sequences keep their first MAX_STEPS
MAX_UNITS = 256  # hidden units drawn as rows
MAX_HEADS = 16
MAX_LABELLED = 60  # words written beside their points; further points show their word on hover
MAX_LINES = 12  # gradient curves in one chart
PANEL_ROW_PIXELS = 26  # pixels per query row of an attention panel
UPRIGHT_CHARACTERS = 90  # key labels of all panels together, written across, that fit a wide page
SPACE = "␣"  # a space token, made visible


def token_text(token: object, limit: int = MAX_TOKEN_CHARS) -> str:
    """A token as Plotly text: visible spaces, cut to `limit` characters, markup escaped."""
    text = str(token)
    text = SPACE if text == " " else " ".join(text.split())  # no line breaks or tabs
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return html.escape(text, quote=False)


def _step_ticks(labels: Sequence[object] | None, count: int) -> dict:
    """Ticks at 0..count-1 named by the tokens (a numeric axis: repeated tokens stay apart)."""
    names = [token_text(t) for t in labels[:count]] if labels is not None else [str(i + 1) for i in range(count)]
    names += [str(i + 1) for i in range(len(names), count)]
    return dict(tickmode="array", tickvals=list(range(count)), ticktext=names, showgrid=False, zeroline=False)


def _kept(padding, count: int) -> np.ndarray:
    """Indices of the steps that are not padding (all when there is no padding mask)."""
    if padding is None:
        return np.arange(count)
    padding = as_array(padding, bool).reshape(-1)[:count]
    return np.flatnonzero(~padding) if (~padding).any() else np.arange(count)


def attention_figure(weights, query_labels: Sequence[object] | None = None,
                     key_labels: Sequence[object] | None = None, query_padding=None, key_padding=None,
                     title: str = "", x_title: str = "key: the step looked at",
                     y_title: str = "query: the step looking", columns: int = 2) -> go.Figure:
    """One heat map per head: row t is how query step t spreads its attention over the keys (0 to 1).

    Padded queries and keys are cut out; the colour scale is fixed to [0, 1], so a sharpening
    alignment darkens over training instead of being rescaled away.
    """
    weights = as_array(weights, np.float32)
    if weights.ndim != 3:
        raise ValueError(f"attention weights must be (heads, queries, keys), got shape {weights.shape}")
    heads = min(len(weights), MAX_HEADS)
    rows_kept = _kept(query_padding, weights.shape[1])[:MAX_STEPS]
    keys_kept = _kept(key_padding, weights.shape[2])[:MAX_STEPS]
    weights = weights[:heads][:, rows_kept][:, :, keys_kept]
    query_labels = [query_labels[i] for i in rows_kept] if query_labels is not None else [i + 1 for i in rows_kept]
    key_labels = [key_labels[i] for i in keys_kept] if key_labels is not None else [i + 1 for i in keys_kept]
    columns = max(1, min(columns, heads))
    grid_rows = math.ceil(heads / columns)
    panel = max(220, PANEL_ROW_PIXELS * len(rows_kept) + 40)
    widths = [len(html.unescape(token_text(k))) + 1 for k in key_labels]
    upright = sum(widths) * columns <= UPRIGHT_CHARACTERS  # else the key labels stand vertically
    longest = 1 if upright else max(widths, default=1)
    layout = base_layout(panel * grid_rows + 110 + 8 * longest, "attention", title=token_text(title, 80))
    cells = _cell_labels(query_labels, key_labels)
    traces = []
    for head in range(heads):
        suffix = _head_axes(layout, head, heads, (grid_rows, columns), upright, (query_labels, key_labels),
                            (x_title, y_title))
        traces.append(dict(
            type="heatmap", z=weights[head], xaxis=f"x{suffix}", yaxis=f"y{suffix}", coloraxis="coloraxis",
            customdata=cells, hovertemplate="%{customdata}: %{z:.2f}<extra>head " + str(head + 1) + "</extra>"))
    layout["coloraxis"] = dict(colorscale=BLUE_SCALE, cmin=0.0, cmax=1.0,
                               colorbar=dict(title=dict(text="weight"), tickfont=dict(size=FONT_SIZE), len=0.8))
    return build_figure(traces, layout)


def _head_axes(layout: dict, head: int, heads: int, grid: tuple[int, int], upright: bool, labels: tuple,
               titles: tuple[str, str]) -> str:
    """Add head `head`'s axes (and its name) to `layout`, laid out in a (rows, columns) grid; its axis suffix."""
    (grid_rows, columns), (query_labels, key_labels), (x_title, y_title) = grid, labels, titles
    row, column = divmod(head, columns)
    suffix = "" if head == 0 else str(head + 1)
    x_domain = _domain(column, columns, 0.06)
    y_domain = _domain(grid_rows - 1 - row, grid_rows, 0.12 if grid_rows > 1 else 0.0)
    layout[f"xaxis{suffix}"] = axis(x_title if row == grid_rows - 1 else "", domain=x_domain, anchor=f"y{suffix}",
                                    tickangle=0 if upright else -90, **_step_ticks(key_labels, len(key_labels)))
    # every head has the same queries: only the first column names them (no labels over a neighbour)
    layout[f"yaxis{suffix}"] = axis(y_title if column == 0 else "", domain=y_domain, anchor=f"x{suffix}",
                                    autorange="reversed", showticklabels=column == 0,
                                    **_step_ticks(query_labels, len(query_labels)))
    if heads > 1:
        layout.setdefault("annotations", []).append(dict(
            text=f"<b>head {head + 1}</b>", showarrow=False, xref="paper", yref="paper",
            x=sum(x_domain) / 2, y=y_domain[1], yanchor="bottom", font=dict(size=FONT_SIZE)))
    return suffix


def _domain(index: int, count: int, gap: float) -> list[float]:
    width = (1.0 - gap * (count - 1)) / count
    start = index * (width + gap)
    return [start, min(1.0, start + width)]


def _cell_labels(query_labels, key_labels) -> np.ndarray:
    """(T, S) hover texts "query → key"."""
    queries = [token_text(t) for t in query_labels]
    keys = [token_text(t) for t in key_labels]
    return np.array([[f"{q} → {k}" for k in keys] for q in queries], dtype=object)


def hidden_state_figure(states, step_labels: Sequence[object] | None = None, node: str = "",
                        directions: int = 1, height: int | None = None) -> go.Figure:
    """A recurrent node's hidden state: one row per unit, one column per time step (tokens below).

    Colours are symmetric around 0 (orange negative, blue positive). With `directions` 2 the
    lower half of the rows is the backward direction, split from the forward one by a line.
    """
    states = as_array(states, np.float32)
    if states.ndim != 2:
        raise ValueError(f"hidden states must be (time steps, units), got shape {states.shape}")
    states = states[:MAX_STEPS, :MAX_UNITS]
    steps, units = states.shape
    limit = float(np.abs(states).max()) if states.size else 1.0
    name = token_text(node, 40)
    layout = base_layout(height or min(720, max(300, 10 * units + 150)), "hidden-states",
                         "time step (the token read)", "unit",
                         title=f"Hidden state of {name} over time" if name else "")
    ticks = _step_ticks(step_labels, steps)
    layout["xaxis"].update(ticks, tickangle=0 if steps <= 16 else -90)
    layout["yaxis"].update(showgrid=False, zeroline=False, autorange="reversed")
    if directions == 2 and units % 2 == 0:
        layout["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, y0=units / 2 - 0.5, y1=units / 2 - 0.5,
                                 line=dict(color=MARK_COLOUR, width=LINE_WIDTH))]
        layout["yaxis"]["title"]["text"] = "unit (forward above the line, backward below)"
    heat = dict(type="heatmap", z=states.T, zmin=-max(limit, 1e-6), zmax=max(limit, 1e-6), colorscale=DIVERGING,
                customdata=np.array([ticks["ticktext"]] * units, dtype=object),
                colorbar=dict(title=dict(text="value"), tickfont=dict(size=FONT_SIZE)),
                hovertemplate="unit %{y}, step %{x} (%{customdata}): %{z:.3f}<extra></extra>")
    return build_figure([heat], layout)


def gradient_steps_figure(lines: Mapping[str, object], dashed: Sequence[str] = (), height: int = 400) -> go.Figure:
    """‖dLoss/dh_t‖ for each time step t, one line per recurrent node or run, on a log scale.

    A plain RNN's line falls steeply towards the first steps (vanishing gradients); an LSTM's stays
    flatter. Lines named in `dashed` (kept from earlier runs) are drawn dashed.
    """
    layout = base_layout(height, "gradient-steps", "time step t (1 = first input)",
                         "gradient norm at h_t (log scale)")
    layout["yaxis"].update(type="log", exponentformat="power")
    layout["showlegend"] = True  # even for one line: the legend says which node (and run) it is
    traces, positive = [], []
    for index, (name, norms) in enumerate(list(lines.items())[:MAX_LINES]):
        norms = as_array(norms).reshape(-1)[:MAX_STEPS].copy()
        norms[~(norms > 0)] = np.nan  # a log axis cannot show 0: leave a gap
        positive.extend(norms[np.isfinite(norms)].tolist())
        label = token_text(name, 48)
        traces.append(dict(
            type="scatter", x=np.arange(1, len(norms) + 1), y=norms, mode="lines+markers", name=label,
            line=dict(color=SERIES_COLOURS[index % len(SERIES_COLOURS)], width=LINE_WIDTH,
                      dash="dash" if name in dashed else "solid"),
            marker=dict(size=MARKER_SIZE - 3),
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.3g}}<extra></extra>"))
    if positive:  # plotly's own log ticks label every digit, or 2 and 5, in small type: too busy here
        narrow = np.log10(max(positive) / min(positive)) < 3
        layout["yaxis"]["dtick"] = "D2" if narrow else 1  # 2 and 5 between powers, or powers of 10 only
    return build_figure(traces, layout)


def embedding_figure(coordinates, words: Sequence[object], explained=None, groups=None,
                     group_names: Sequence[str] = (), node: str = "", height: int = 560) -> go.Figure:
    """Embedding vectors on their first two principal components, each point labelled with its word.

    `groups` (one id per word, e.g. the tag a word most often has) colours the points; only the
    first MAX_LABELLED words are written out, the rest show theirs on hover.
    """
    coordinates = as_array(coordinates)
    if coordinates.ndim != 2 or coordinates.shape[1] != 2 or len(coordinates) != len(words):
        raise ValueError(f"need (N, 2) coordinates for N words, got {coordinates.shape} for {len(words)}")
    explained = as_array(explained) if explained is not None else np.full(2, np.nan)
    titles = [f"component {i + 1}" + (f" ({explained[i]:.0%} of the variance)" if np.isfinite(explained[i])
                                      else "") for i in range(2)]
    name = token_text(node, 40)
    layout = base_layout(height, "embedding", titles[0], titles[1],
                         title=f"Word vectors of {name}, projected to 2-D (PCA)" if name else "")
    labels = [token_text(w) for w in words]
    grouped = groups is not None
    groups = as_array(groups, np.int64).reshape(-1) if grouped else np.zeros(len(words), np.int64)
    colours = class_colours(max(3, int(groups.max()) + 1 if len(groups) else 1))
    traces = []
    for group in sorted(set(groups.tolist())):
        rows = np.flatnonzero(groups == group)
        group_name = token_text(group_names[group], 40) if 0 <= group < len(group_names) else "words"
        text = [labels[i] if i < MAX_LABELLED else "" for i in rows]
        traces.append(dict(
            type="scatter", x=coordinates[rows, 0], y=coordinates[rows, 1], mode="markers+text", name=group_name,
            text=text, textposition="top center", textfont=dict(size=FONT_SIZE - 2),
            customdata=np.array([labels[i] for i in rows], dtype=object),
            marker=dict(size=MARKER_SIZE, color=colours[group % len(colours)], opacity=0.85),
            hovertemplate="%{customdata}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"))
    layout["showlegend"] = grouped and len(traces) > 1
    return build_figure(traces, layout)
