"""Image figures: a grid of predictions (mistakes in red), the confusion matrix, rebuilt images.

Built as plain dicts (see style.build_figure): the grid's subplots are laid out here, as
make_subplots would, without its cost.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from dlbuilder.figures.style import (
    FONT_SIZE,
    MARK_COLOUR,
    RIGHT_COLOUR,
    WRONG_COLOUR,
    as_array,
    base_layout,
    build_figure,
)

IMAGE_HEIGHT = 120  # pixels per row of images
LINE_HEIGHT = FONT_SIZE + 5  # pixels per line of a caption
ROW_GAP = 10  # pixels between a row's images and the next row's captions
# Longer caption lines wrap: the live view's cells are ~95 px wide (three in a row on a 1280-px
# screen), about 12 characters of 16-px text.
CAPTION_CHARS = 12
# Gap between columns, as a share of the width: wide where there are few columns, so a caption
# a little wider than its image still stays clear of the next one; at most a fifth in all.
MAX_SPACING = 0.05
# plotly.py's named colourscales, spelled out: plotly.js knows other scales by these names
# (or none), and unvalidated figures pass names through to it unchanged
GREY_SCALE = get_colorscale("gray")
BLUE_SCALE = get_colorscale("Blues")
GREY_AXIS = {"colorscale": GREY_SCALE, "cmin": 0, "cmax": 1, "showscale": False}  # pixels in [0, 1]


def _class_name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def image_trace(image) -> dict:
    """A grey image (H, W) in [0, 1] as a heatmap, or a colour image (3, H, W) as an image trace."""
    image = as_array(image)
    if image.ndim == 3 and image.shape[0] == 3:
        rgb = np.clip(image.transpose(1, 2, 0), 0, 1) * 255
        return dict(type="image", z=rgb.astype(np.uint8), hoverinfo="skip")
    image = image.reshape(image.shape[-2:]) if image.ndim == 3 else image
    # grey levels from the figure's one colour axis (GREY_AXIS), not a scale copied into every image
    return dict(type="heatmap", z=image.astype(np.float32), coloraxis="coloraxis",
                hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>")


def _axis_id(index: int) -> str:
    """The axis suffix of column or row `index`: none for the first (x), then 2, 3... (x2, x3)."""
    return "" if index == 0 else str(index + 1)


def _line_count(title: str) -> int:
    return title.count("<br>") + 1 if title else 0


def _row_domains(titles: Sequence[str], count: int, columns: int,
                 image_height: int) -> tuple[list[list[float]], float]:
    """Paper y domains of each row's images, top row first, and the plot's height in pixels.

    Each row reserves room above its images for its longest caption, so a two-line caption
    ("pred 3 (51%)", "true 8") never runs into the row above.
    """
    rows = max(1, math.ceil(count / columns))
    captions = [max((_line_count(titles[i]) for i in range(row * columns, min(count, (row + 1) * columns))
                     if i < len(titles)), default=0) * LINE_HEIGHT for row in range(rows)]
    total = sum(captions) + rows * image_height + (rows - 1) * ROW_GAP
    domains, top = [], float(total)
    for caption in captions:
        image_top = top - caption
        domains.append([max(0.0, (image_top - image_height) / total), min(1.0, image_top / total)])
        top = image_top - image_height - ROW_GAP
    return domains, float(total)


def grid_of_images(images: Sequence, titles: Sequence[str], title_colours: Sequence[str],
                   columns: int, height: int | None, uirevision: str,
                   image_height: int = IMAGE_HEIGHT) -> go.Figure:
    """Images in a grid, each with its own title and title colour; axes hidden, pixels square.

    The cells are laid out as make_subplots would, but with one x axis per column and one y axis
    per row instead of a pair per cell: plotly builds an object for every axis even unvalidated,
    and 32 of them for 16 images cost ~5 ms. All axes are scale-linked to x, so every cell shows
    square pixels exactly as a per-cell scaleanchor did. Rows are sized in pixels, captions
    included; images keep to the top of their cell, right under their caption.
    """
    columns = max(1, min(columns, len(images)))
    spacing = min(MAX_SPACING, 0.2 / max(1, columns - 1))
    width = (1 - spacing * (columns - 1)) / columns
    y_domains, plot_height = _row_domains(titles, len(images), columns, image_height)
    margin = {"l": 2, "r": 2, "t": 8, "b": 8}
    layout = {"template": "none", "paper_bgcolor": "white", "plot_bgcolor": "white",
              "height": height or round(plot_height) + margin["t"] + margin["b"], "margin": margin,
              "font": {"size": FONT_SIZE}, "uirevision": uirevision, "showlegend": False,
              "coloraxis": GREY_AXIS}
    hidden = dict(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    x_domains = []
    for column in range(columns):
        x0 = column * (width + spacing)
        x_domains.append([x0, min(1.0, x0 + width)])
        layout[f"xaxis{_axis_id(column)}"] = dict(anchor="y", domain=x_domains[-1], **hidden,
                                                  **({"scaleanchor": "x"} if column else {}))
    for row, domain in enumerate(y_domains):
        layout[f"yaxis{_axis_id(row)}"] = dict(anchor="x", domain=domain, scaleanchor="x", autorange="reversed",
                                               constrain="domain", constraintoward="top", **hidden)
    traces, annotations = [], []
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        traces.append({**image_trace(image), "xaxis": f"x{_axis_id(column)}", "yaxis": f"y{_axis_id(row)}"})
        if index < len(titles) and titles[index]:
            colour = title_colours[index] if index < len(title_colours) else RIGHT_COLOUR
            annotations.append(dict(text=titles[index], x=sum(x_domains[column]) / 2, y=y_domains[row][1],
                                    xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                    showarrow=False, font=dict(size=FONT_SIZE, color=colour)))
    layout["annotations"] = annotations
    return build_figure(traces, layout)


def caption_lines(*lines: str) -> str:
    """Caption lines for plotly, each wrapped at spaces to CAPTION_CHARS (a longer single word stays whole)."""
    wrapped = []
    for line in lines:
        current = ""
        for word in line.split(" "):
            if current and len(current) + 1 + len(word) > CAPTION_CHARS:
                wrapped.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        wrapped.append(current)
    return "<br>".join(wrapped)


def image_grid_figure(samples: Sequence, class_names: Sequence[str] = (), columns: int = 8,
                      height: int | None = None) -> go.Figure:
    """Test images titled "pred 3 (92%)"; wrong ones in red with the true class below."""
    titles, colours = [], []
    for _, true, predicted, probability in samples:
        title = f"pred {_class_name(class_names, predicted)} ({probability:.0%})"
        wrong = true != predicted
        titles.append(caption_lines(title, *([f"true {_class_name(class_names, true)}"] if wrong else [])))
        colours.append(WRONG_COLOUR if wrong else RIGHT_COLOUR)
    return grid_of_images([sample[0] for sample in samples], titles, colours, columns, height,
                          "image-grid")


def reconstruction_figure(inputs: Sequence, outputs: Sequence, errors: Sequence = (), pairs_per_row: int = 2,
                          height: int | None = None) -> go.Figure:
    """Each input beside what the network rebuilt from it: "input", then "rebuilt" over its error."""
    images, titles = [], []
    for index, (original, rebuilt) in enumerate(zip(inputs, outputs)):
        images += [original, rebuilt]
        # short captions: four images share ~360 px in the live view; the view's title names the number
        titles += ["input", f"rebuilt<br>{errors[index]:.3f}" if index < len(errors) else "rebuilt"]
    # ~85 px per image at four in a row, so rows need less than IMAGE_HEIGHT
    return grid_of_images(images, titles, [RIGHT_COLOUR, MARK_COLOUR] * len(inputs), 2 * pairs_per_row,
                          height, "reconstructions", image_height=90)


def confusion_figure(matrix, class_names: Sequence[str] = (), height: int | None = None) -> go.Figure:
    """Counts of (true class, predicted class) as a heatmap with every count written in its cell."""
    counts = as_array(matrix, np.int64)
    names = [_class_name(class_names, index) for index in range(len(counts))]
    layout = base_layout(height or 160 + 44 * len(names), "confusion", "predicted class", "true class")
    layout["xaxis"].update(type="category", side="bottom", showgrid=False)
    layout["yaxis"].update(type="category", autorange="reversed", showgrid=False, scaleanchor="x")
    heatmap = dict(type="heatmap", z=counts, x=names, y=names, colorscale=BLUE_SCALE, showscale=False,
                   texttemplate="%{z}", textfont=dict(size=FONT_SIZE), xgap=1, ygap=1,
                   hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>")
    return build_figure([heatmap], layout)
