"""Playground's neuron view: each unit's output over the plane as a small map, laid out like the net.

Columns are layers (the input features first), rows are units, joined by links whose colour is
the weight's sign and whose thickness its size, as Playground draws them. Redrawn while
training, so it is one mosaic: one heatmap per layer (its maps stacked, NaN between them) on a
single pair of axes in grid-cell units. A heatmap per map with an axis pair per row and column
cost ~0.5 ms per axis in plotly.py alone (10 ms for a 6x8 net); this builds in about 2 ms.
"""

from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go

from dlbuilder.figures.style import (
    DIVERGING,
    FONT_SIZE,
    MARK_COLOUR,
    PLAYGROUND_BLUE,
    PLAYGROUND_ORANGE,
    as_array,
    axis,
    build_figure,
)

MAX_UNITS = 8  # maps shown per layer, as Playground allows; the layer's title says when more are hidden
CELL = 60  # pixels per map (when the page is wide enough)
ROW_GAP = 0.5  # space between a layer's maps, in maps
COLUMN_GAP = 0.9  # space between layers, in maps: room for the links
TITLE_HEIGHT = 2 * FONT_SIZE + 10  # pixels: a layer's name and its colour range above its maps
WEIGHTS_HEIGHT = 200  # pixels: the selected unit's incoming-weights bar chart under the maps
SMALL_FONT = FONT_SIZE - 3
TOP_MARGIN = 28  # pixels above the layer names: plotly's toolbar sits there
LINK_WIDTHS = (1.0, 2.5, 4.5)  # thin, middle, thick: |weight| in thirds of the largest |weight|
# Values sent per redraw at most: a 6x8 net on 7 features has 56 maps, 90k values (~800 KB of
# JSON) at 40x40; every other grid point is plenty for a 60-pixel map (Playground draws 10x10).
MAX_VALUES = 40_000
HIDDEN = dict(showticklabels=False, ticks="", showgrid=False, zeroline=False, showline=False)


def colour_limit(maps) -> float:
    """The layer's colour range ±limit: Playground's ±1 while values stay within it (tanh, sigmoid),
    else the largest |value|, so ReLU units and raw features (x in [-6, 6]) are not one flat colour."""
    largest = float(np.nanmax(np.abs(as_array(maps)), initial=0.0))
    return 1.0 if largest <= 1.0 else largest


def _short(value: float) -> str:
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


class _Grid:
    """Where each map sits, in grid cells: map (column, row) spans x0..x0+R-1 and y0..y0+R-1 (y up)."""

    def __init__(self, points: int, rows: int, stride: int):
        self.stride, self.rows = stride, rows
        self.resolution = len(range(0, points, stride))  # cells per map side as drawn
        resolution = self.resolution
        self.pitch = resolution + max(1, round(ROW_GAP * resolution))  # one map and the gap under it
        self.column_pitch = resolution + max(1, round(COLUMN_GAP * resolution))

    def x0(self, column: int) -> int:
        return column * self.column_pitch

    def y0(self, row: int) -> int:
        return (self.rows - 1 - row) * self.pitch  # row 0 at the top

    def box(self, column: int, row: int) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) edges of a map, half a cell past its outer cell centres."""
        x0, y0, r = self.x0(column), self.y0(row), self.resolution
        return x0 - 0.5, x0 + r - 0.5, y0 - 0.5, y0 + r - 0.5


def _heatmap(maps, first: int, column: int, grid: _Grid, name: str) -> dict:
    """Maps of units first, first + 1, ... stacked top-down in one heatmap, NaN in the gaps between them."""
    r, pitch = grid.resolution, grid.pitch
    z = np.full((len(maps) * pitch - (pitch - r), r), np.nan, dtype=np.float32)
    for index, values in enumerate(maps):
        bottom = (len(maps) - 1 - index) * pitch
        z[bottom:bottom + r] = as_array(values, np.float32)[::grid.stride, ::grid.stride]
    limit = colour_limit(maps)
    return dict(type="heatmap", z=z, x0=grid.x0(column), dx=1, y0=grid.y0(first + len(maps) - 1), dy=1,
                name=name, colorscale=DIVERGING, zmin=-limit, zmax=limit, showscale=False, hoverongaps=False,
                hovertemplate=f"{name}: %{{z:.2f}}<extra></extra>")


def _column(layer, column: int, grid: _Grid) -> list[dict]:
    """One layer's maps on its colour range; input features one by one, each on its own (x², sin x)."""
    shown = min(len(layer.labels), grid.rows)
    if layer.weights is None:
        return [_heatmap(layer.maps[unit:unit + 1], unit, column, grid, html.escape(layer.labels[unit], quote=False))
                for unit in range(shown)]
    return [_heatmap(layer.maps[:shown], 0, column, grid, html.escape(layer.name, quote=False))]


def _title(layer, column: int, grid: _Grid, top: float) -> dict:
    shown = min(len(layer.labels), grid.rows)
    scale = "own range" if layer.weights is None else f"±{_short(colour_limit(layer.maps[:shown]))}"
    more = f", {shown} of {len(layer.labels)}" if shown < len(layer.labels) else ""
    text = (f"{html.escape(layer.name, quote=False)}<br>"
            f"<span style='font-size:{SMALL_FONT}px'>{scale}{more}</span>")
    return dict(text=text, x=grid.x0(column) + (grid.resolution - 1) / 2, y=top, xref="x", yref="y",
                xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=FONT_SIZE))


def _links(layers, grid: _Grid, selected: tuple[int, int] | None) -> list[dict]:
    """Each shown weight as a line from its input's map to its unit's map, one trace per sign, thickness
    and emphasis; the selected unit's links in full colour, the others paler."""
    largest = max((float(np.abs(as_array(layer.weights)).max(initial=0.0)) for layer in layers
                   if layer.weights is not None and layer.source is not None), default=0.0) or 1.0
    segments: dict[tuple[str, int, bool], tuple[list, list]] = {}
    for column, layer in enumerate(layers):
        if layer.weights is None or layer.source is None:
            continue
        weights = as_array(layer.weights)
        for unit in range(min(grid.rows, len(weights))):
            _, _, bottom, top = grid.box(column, unit)
            for source_unit in range(min(grid.rows, weights.shape[1])):
                weight = weights[unit, source_unit]
                sign = PLAYGROUND_BLUE if weight >= 0 else PLAYGROUND_ORANGE
                level = min(2, int(3 * abs(weight) / largest))
                key = (sign, level, selected is None or selected == (column, unit))
                xs, ys = segments.setdefault(key, ([], []))
                _, right, source_bottom, source_top = grid.box(layer.source, source_unit)
                xs += [right, grid.box(column, unit)[0], np.nan]
                ys += [(source_bottom + source_top) / 2, (bottom + top) / 2, np.nan]
    # float arrays with NaN breaks: plotly sends them as base64, where lists of None cost ~3 ms per 1,000 links
    return [dict(type="scatter", x=np.array(xs, np.float32), y=np.array(ys, np.float32), mode="lines",
                 line=dict(color=colour, width=LINK_WIDTHS[level]), opacity=0.8 if strong else 0.25,
                 hoverinfo="skip", name="weights")
            for (colour, level, strong), (xs, ys) in sorted(segments.items(), key=lambda item: item[0][2])]


def _layout(grid: _Grid, columns: int, weights_height: int) -> tuple[dict, float]:
    """The layout, maps CELL pixels tall over a band for the weights' bars; (layout, top edge of the maps)."""
    maps_height = grid.rows * CELL + (grid.rows - 1) * (grid.pitch - grid.resolution) * CELL / grid.resolution
    plot_height = round(TITLE_HEIGHT + maps_height + weights_height)
    top = grid.y0(0) + grid.resolution - 0.5  # data units: the top edge of the first row's maps
    title_cells = TITLE_HEIGHT * grid.resolution / CELL
    margin = {"l": 4, "r": 4, "t": TOP_MARGIN, "b": 4}
    layout = {"template": "none", "paper_bgcolor": "white", "plot_bgcolor": "white",
              "height": plot_height + margin["t"] + margin["b"], "margin": margin,
              "font": {"size": FONT_SIZE}, "uirevision": "neurons", "showlegend": False,
              "hoverlabel": {"font": {"size": FONT_SIZE}},
              "xaxis": dict(range=[-0.5 - grid.resolution / 4, grid.x0(columns - 1) + grid.resolution
                                   - 0.5 + grid.resolution / 4], **HIDDEN),
              "yaxis": dict(range=[-0.5, top + title_cells], scaleanchor="x", constrain="domain",
                            domain=[weights_height / plot_height, 1.0], **HIDDEN)}
    return layout, top


def neuron_figure(neurons, selected: tuple[int, int] | None = None) -> go.Figure:
    """Every unit's output as a small map (orange negative, blue positive), layers as columns joined
    by their weights; `selected` = (layer, unit) is framed, with its incoming weights and bias as bars."""
    layers = neurons.layers
    points = len(as_array(neurons.xs))
    rows = min(MAX_UNITS, max(len(layer.labels) for layer in layers))
    shown = sum(min(rows, len(layer.labels)) for layer in layers)
    grid = _Grid(points, rows, stride=max(1, math.ceil(math.sqrt(shown * points * points / MAX_VALUES))))
    if selected is not None and layers[selected[0]].weights is None:
        selected = None  # the input features have no incoming weights
    layout, top = _layout(grid, len(layers), WEIGHTS_HEIGHT if selected is not None else 0)
    traces = _links(layers, grid, selected)
    for column, layer in enumerate(layers):
        traces += _column(layer, column, grid)
    annotations = [_title(layer, column, grid, top) for column, layer in enumerate(layers)]
    shapes = []
    if selected is not None:
        column, unit = selected
        if unit < grid.rows:
            left, right, bottom, up = grid.box(column, unit)
            shapes.append(dict(type="rect", xref="x", yref="y", x0=left, x1=right, y0=bottom, y1=up,
                               line=dict(color=MARK_COLOUR, width=4), layer="above"))
        traces.append(_weights_bars(layers[column], unit))
        _weights_axes(layout, layers[column].labels[unit], annotations)
    layout["annotations"] = annotations
    if shapes:
        layout["shapes"] = shapes
    return build_figure(traces, layout)


def _weights_bars(layer, unit: int) -> dict:
    """Incoming weights, then the bias, as bars: blue positive, orange negative."""
    values = np.append(as_array(layer.weights[unit]), float(layer.bias[unit]))
    names = [html.escape(label, quote=False) for label in layer.source_labels] + ["bias"]
    return dict(type="bar", x=names, y=values, name="incoming weights", xaxis="x2", yaxis="y2",
                marker=dict(color=[PLAYGROUND_BLUE if v >= 0 else PLAYGROUND_ORANGE for v in values]),
                hovertemplate="%{x}: %{y:.3f}<extra></extra>")


def _weights_axes(layout: dict, label: str, annotations: list) -> None:
    """The bar chart's axes in the band under the maps, titled by the selected unit; edits `layout`."""
    plot_height = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    band_top = (WEIGHTS_HEIGHT - FONT_SIZE - 16) / plot_height  # under its title line
    layout["xaxis2"] = axis("", anchor="y2", domain=[0.08, 1.0], type="category", tickfont={"size": SMALL_FONT})
    layout["yaxis2"] = axis("", anchor="x2", domain=[70 / plot_height, band_top])  # room for input names
    annotations.append(dict(text=f"incoming weights of {html.escape(label, quote=False)}", x=0.0,
                            y=(WEIGHTS_HEIGHT - 6) / plot_height, xref="paper", yref="paper",
                            xanchor="left", yanchor="top", showarrow=False, font=dict(size=FONT_SIZE)))
