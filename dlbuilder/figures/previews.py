"""Dataset previews before any training, from a bundle-like object (arrays, `info`, `extras`)."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from dlbuilder.datasets.tokens import IGNORE_INDEX, decode, join_tokens
from dlbuilder.figures.boundary import (
    class_points,
    day_axis,
    largest_magnitude,
    line_trace,
    shade_regions,
    value_points,
)
from dlbuilder.figures.images import grid_of_images
from dlbuilder.figures.style import (
    FONT_SIZE,
    HEIGHT,
    MARGIN,
    MARKER_SIZE,
    RIGHT_COLOUR,
    SPLIT_COLOURS,
    SPLIT_NAMES,
    as_array,
    base_layout,
    build_figure,
    downsample,
    equal_axes,
)

SPLITS = ("train", "val", "test")
EXAMPLES_PER_CLASS = 3
MAX_CLASSES_SHOWN = 10
TABLE_ROWS = 10
TABLE_COLUMNS = 12
MAX_SERIES_POINTS = 2000
TABLE_FILL = "#EBF0F8"
TABLE_FONT_COLOUR = "#2a3f5f"


def _split(bundle, split: str) -> tuple[np.ndarray, np.ndarray]:
    return as_array(getattr(bundle, f"x_{split}")), as_array(getattr(bundle, f"y_{split}"))


def raw_points(bundle, split: str) -> np.ndarray:
    """The 2-D points before features (extras["points_<split>"]); the first two inputs otherwise."""
    key = f"points_{split}"
    return as_array(bundle.extras[key]) if key in bundle.extras else _split(bundle, split)[0][:, :2]


def points_preview(bundle, height: int = 520) -> go.Figure:
    """2-D sets: training (and validation) points filled, test points outlined, on equal axes."""
    info = bundle.info
    layout = base_layout(height, "preview-points", "x", "y")
    fit_points = np.concatenate([raw_points(bundle, "train"), raw_points(bundle, "val")])
    fit_targets = np.concatenate([_split(bundle, "train")[1], _split(bundle, "val")[1]])
    test_points, test_targets = raw_points(bundle, "test"), _split(bundle, "test")[1]
    if info.task == "classification":
        traces = class_points(fit_points, fit_targets, info.class_names, test=False)
        if len(test_points):
            traces += class_points(test_points, test_targets, info.class_names, test=True)
    else:
        limit = largest_magnitude(fit_targets, test_targets)
        traces = [value_points(fit_points, fit_targets, limit, "train")]
        if len(test_points):
            traces.append(value_points(test_points, test_targets, limit, "test"))
    low, high = bundle.extras.get("domain", (fit_points.min(), fit_points.max()))
    equal_axes(layout, (low, high), (low, high))
    return build_figure(traces, layout)


def curve_preview(bundle, height: int = HEIGHT) -> go.Figure:
    """1-D regression: the examples of each split as dots and the true curve dashed."""
    name = bundle.info.feature_names[0] if bundle.info.feature_names else "x"
    layout = base_layout(height, "preview-curve", name, "y")
    traces = []
    for split in SPLITS:
        x, y = _split(bundle, split)
        if len(x):
            traces.append(dict(
                type="scatter", x=x[:, 0], y=y.reshape(-1), mode="markers", name=SPLIT_NAMES[split],
                marker=dict(size=MARKER_SIZE, color=SPLIT_COLOURS[split], opacity=0.8)))
    if "curve_x" in bundle.extras:
        title = f"true curve {bundle.extras.get('formula', '')}".strip()
        traces.append(line_trace(bundle.extras["curve_x"], bundle.extras["curve_y"], title, RIGHT_COLOUR,
                                 "dash"))
    return build_figure(traces, layout)


def series_preview(bundle, height: int = HEIGHT) -> go.Figure:
    """A time series in its own units with the training, validation and test periods shaded."""
    extras = bundle.extras
    scale = extras.get("scale", {"offset": 0.0, "factor": 1.0, "unit": "value"})
    series = as_array(extras["series"]) * scale["factor"] + scale["offset"]
    start = extras.get("start_date")
    layout = base_layout(height, "preview-series", "date" if start else "day", scale.get("unit", "value"))
    layout["showlegend"] = False
    regions = {}
    for split in SPLITS:
        days = as_array(extras.get(f"target_days_{split}", []), np.int64)
        if len(days):
            regions[split] = tuple(day_axis([days.min(), days.max()], start))
    shade_regions(layout, regions)
    keep = downsample(len(series), MAX_SERIES_POINTS)
    days = day_axis(np.arange(len(series))[keep], start)
    return build_figure([line_trace(days, series[keep], "series", RIGHT_COLOUR, "solid")], layout)


def image_preview(bundle, height: int | None = None) -> go.Figure:
    """A few training images of every class: one column per class, named on top."""
    x, y = _split(bundle, "train")
    y = y.astype(np.int64)
    names = list(bundle.info.class_names)[:MAX_CLASSES_SHOWN] or [str(c) for c in range(int(y.max()) + 1)]
    blank = np.zeros(x.shape[-2:])
    images, titles = [], []
    for row in range(EXAMPLES_PER_CLASS):
        for label, name in enumerate(names):
            members = np.flatnonzero(y == label)
            images.append(x[members[row]] if row < len(members) else blank)
            titles.append(name if row == 0 else "")
    return grid_of_images(images, titles, [RIGHT_COLOUR] * len(titles), len(names),
                          height, "preview-images")


def _table_columns(bundle) -> tuple[list[str], list[np.ndarray]]:
    """Header and columns of the first training rows, features back in their own units."""
    info, extras = bundle.info, bundle.extras
    x, y = _split(bundle, "train")
    x = x.reshape(len(x), -1)[:TABLE_ROWS, :TABLE_COLUMNS]
    if "feature_mean" in extras:
        width = x.shape[1]
        x = x * np.asarray(extras["feature_std"])[:width] + np.asarray(extras["feature_mean"])[:width]
    names = list(info.feature_names)[:x.shape[1]] or [f"x{i}" for i in range(x.shape[1])]
    target = y[:TABLE_ROWS]
    if info.task == "classification":
        labels = [info.class_names[int(v)] if int(v) < len(info.class_names) else str(int(v)) for v in target]
    else:
        scale = extras.get("scale", {"offset": 0.0, "factor": 1.0})
        values = target.reshape(len(target), -1)[:, 0] * scale["factor"] + scale["offset"]
        labels = [f"{v:.4g}" for v in values]
    columns = [[f"{v:.4g}" for v in x[:, i]] for i in range(x.shape[1])] + [labels]
    # names and class labels come from the uploaded file: Plotly would render tags in them (<a href>);
    # it decodes only &lt; &gt; &amp; (not &quot;), hence quote=False
    return [html.escape(str(n), quote=False) for n in names + [extras.get("target_name", "target")]], \
        columns[:-1] + [[html.escape(str(label), quote=False) for label in labels]]


def _tag_runs(words: list[str], tags: np.ndarray, class_names: tuple[str, ...]) -> str:
    """Runs of words with the same tag, each followed by its tag name; padding left out."""
    runs: list[tuple[int, list[str]]] = []
    for word, tag in zip(words, np.asarray(tags, dtype=np.int64).tolist()):
        if tag == IGNORE_INDEX:
            continue
        if runs and runs[-1][0] == tag:
            runs[-1][1].append(word)
        else:
            runs.append((tag, [word]))
    return " · ".join(f"{' '.join(run)} → {class_names[tag]}" for tag, run in runs)


def _sequence_columns(bundle) -> tuple[list[str], list[list[str]]]:
    """Decoded first training sequences: the input text, and the tags, target text or class."""
    info = bundle.info
    x, y = _split(bundle, "train")
    vocabulary, targets = info.vocabulary, info.target_vocabulary
    inputs = [join_tokens(decode(row, vocabulary), vocabulary.level) for row in x[:TABLE_ROWS]]
    if targets is not None:  # seq2seq: the target text up to <end>
        header = "target"
        wanted = [join_tokens(decode(row, targets), targets.level) for row in y[:TABLE_ROWS]]
    elif info.target_steps:  # tagging: "fly out of → other · lisbon → origin · ..."
        header = "tags"
        wanted = [_tag_runs(decode(row, vocabulary, strip=False), tags, info.class_names)
                  for row, tags in zip(x[:TABLE_ROWS], y[:TABLE_ROWS])]
    else:
        header = "class"
        wanted = [info.class_names[int(v)] for v in y[:TABLE_ROWS]]
    # tokens such as <unk> would be read as HTML tags by Plotly: escape (it decodes &lt; &gt; &amp;)
    return ["input", header], [[html.escape(text, quote=False) for text in column] for column in (inputs, wanted)]


def table_preview(bundle, height: int | None = None) -> go.Figure:
    """The first rows of the training data as a table, the target in the last column."""
    header, columns = (_sequence_columns(bundle) if bundle.info.vocabulary is not None
                       else _table_columns(bundle))
    table = dict(
        type="table",
        # cell fill, white rules and text colour as plotly's default template drew them (none is copied)
        header=dict(values=[f"<b>{name}</b>" for name in header], font=dict(size=FONT_SIZE),
                    fill=dict(color="#e8eef6"), line=dict(color="white"), align="left", height=34),
        cells=dict(values=columns, font=dict(size=FONT_SIZE), fill=dict(color=TABLE_FILL),
                   line=dict(color="white"), align="left", height=30))
    layout = {"template": "none", "paper_bgcolor": "white", "plot_bgcolor": "white",
              "font": {"color": TABLE_FONT_COLOUR}, "height": height or 80 + 31 * (len(columns[0]) + 1),
              "margin": {**MARGIN, "t": 8, "l": 8}, "uirevision": "preview-table"}
    return build_figure([table], layout)


PREVIEWS = {"points2d": points_preview, "curve1d": curve_preview, "series": series_preview,
            "image": image_preview, "table": table_preview, "sequence": table_preview}


def dataset_preview_figure(bundle, height: int | None = None) -> go.Figure:
    """The preview that fits the dataset's `info.display`: scatter, curve, series, images or table."""
    draw = PREVIEWS.get(bundle.info.display, table_preview)
    return draw(bundle) if height is None else draw(bundle, height=height)
