"""Figures of a convolutional network: filters, feature maps, maximised images, saliency, adversarial examples.

Image grids from figures.images, recoloured: signed values (weights, perturbations, maps of a conv
without ReLU) on a diverging scale centred on zero (Playground's orange for negative, blue for
positive), non-negative values and pixels in grey, saliency in reds. Each grid shares one colour
scale, so cells can be compared; a colour bar reads the values off.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from dlbuilder.figures.images import GREY_SCALE, caption_lines, grid_of_images
from dlbuilder.figures.style import DIVERGING, FONT_SIZE, RIGHT_COLOUR, TITLE_SIZE, WRONG_COLOUR, as_array

RED_SCALE = get_colorscale("Reds")  # spelled out: unvalidated figures pass names to plotly.js unchanged
TITLE_ROOM = 40  # pixels above the grid for the figure's title
COLOUR_BAR_ROOM = 90  # pixels right of the grid for a colour bar and its numbers
MAX_CELLS = 256  # images in one grid: more are unreadable and slow to draw


def _class_name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def _colour_axis(colorscale, low: float, high: float, bar_title: str = "") -> dict:
    """One shared colour scale from low to high; a colour bar when it has a title."""
    axis = {"colorscale": colorscale, "cmin": float(low), "cmax": float(high), "showscale": bool(bar_title)}
    if bar_title:
        axis["colorbar"] = {"title": {"text": bar_title, "font": {"size": FONT_SIZE}}, "thickness": 14,
                            "tickfont": {"size": FONT_SIZE}, "len": 0.9, "x": 1.0, "xpad": 8}
    return axis


def _signed_axis(values: np.ndarray, limit: float | None, bar_title: str) -> dict:
    """Diverging, symmetric around zero: white is 0, the ends are +-limit (the largest |value| if None)."""
    limit = float(np.abs(values).max(initial=0.0)) if limit is None else float(limit)
    limit = limit if np.isfinite(limit) and limit > 0 else 1.0
    return _colour_axis(DIVERGING, -limit, limit, bar_title)


def _range_axis(values: np.ndarray, bar_title: str) -> dict:
    """Grey from 0 (or the minimum) to the maximum for non-negative values, else diverging."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low < 0:
        return _signed_axis(finite, None, bar_title)
    return _colour_axis(GREY_SCALE, 0.0, high if high > 0 else 1.0, bar_title)


def _cells(images: np.ndarray, what: str) -> np.ndarray:
    if len(images) > MAX_CELLS:
        raise ValueError(f"{len(images)} {what} are too many for one grid: show at most {MAX_CELLS}")
    return images


def _grid(images, titles: Sequence[str], colours: Sequence[str], columns: int, title: str,
          coloraxis: dict, uirevision: str, coloraxis2: dict | None = None,
          second_cells: Sequence[int] = ()) -> go.Figure:
    """A grid of images under a title, on `coloraxis` (cells in `second_cells` on `coloraxis2`)."""
    figure = grid_of_images(list(images), list(titles), list(colours), columns, None, uirevision)
    layout = figure.layout
    bar = any(axis and axis.get("showscale") for axis in (coloraxis, coloraxis2))
    margin = {"l": 2, "r": COLOUR_BAR_ROOM if bar else 2, "t": 8 + (TITLE_ROOM if title else 0), "b": 8}
    update = {"coloraxis": coloraxis, "margin": margin, "height": layout.height + margin["t"] - 8}
    if title:
        update["title"] = {"text": title, "font": {"size": TITLE_SIZE}, "x": 0.01, "y": 0.99, "yanchor": "top"}
    if coloraxis2 is not None:
        update["coloraxis2"] = coloraxis2
        for index in second_cells:
            figure.data[index].coloraxis = "coloraxis2"
    figure.update_layout(**update)
    return figure


def _colour_cells(images: np.ndarray, low: float, high: float) -> np.ndarray:
    """Colour images (N, 3, H, W) mapped to [0, 1] from [low, high], for plotly's image traces."""
    return (images - low) / (high - low)


def filter_figure(filters, limit: float | None = None, node: str = "", input_channel: int | None = None,
                  columns: int = 8) -> go.Figure:
    """A conv layer's filters (out, K, K), or colour (out, 3, K, K), on one scale symmetric around zero.

    `limit` is the colour scale's end (the layer's largest |weight|, so every input channel's view
    uses the same colours); by default the largest |value| shown.
    """
    filters = _cells(as_array(filters), "filters")
    if filters.ndim not in (3, 4) or (filters.ndim == 4 and filters.shape[1] != 3):
        raise ValueError(f"filters must be (out, K, K) or (out, 3, K, K), got {filters.shape}")
    axis = _signed_axis(filters, limit, "weight")
    if filters.ndim == 4:  # colour: the diverging scale cannot apply, weights map to grey levels per channel
        filters = _colour_cells(filters, axis["cmin"], axis["cmax"])
    source = f", input channel {input_channel}" if input_channel is not None else ""
    title = f"{node} filters{source}" if node else f"filters{source}"
    titles = [f"filter {index}" for index in range(len(filters))]
    return _grid(filters, titles, [RIGHT_COLOUR] * len(filters), columns, title, axis, "filters")


def feature_maps_figure(maps, node: str = "", columns: int = 8) -> go.Figure:
    """One layer's feature maps (C, H, W) for one image, all on one colour scale."""
    maps = _cells(as_array(maps), "maps")
    if maps.ndim != 3:
        raise ValueError(f"feature maps must be (C, H, W), got {maps.shape}")
    # a channel that is 0 everywhere (a ReLU that never fires on this image) says so: a blank cell
    # on the shared colour scale looks the same as a weak but live one
    titles = [f"channel {index}" + (" · silent" if not np.any(channel) else "") for index, channel in enumerate(maps)]
    title = f"{node} feature maps" if node else "feature maps"
    return _grid(maps, titles, [RIGHT_COLOUR] * len(maps), columns, title,
                 _range_axis(maps, "activation"), "feature-maps")


def maximised_figure(images, targets: Sequence[int], before: Sequence[float], after: Sequence[float],
                     node: str = "", value_range: tuple[float, float] = (0.0, 1.0),
                     class_names: Sequence[str] = (), columns: int = 8) -> go.Figure:
    """Images grown to excite each target, captioned with its activation on the noise -> on the image.

    `images` (N, C, H, W) are grey (C = 1) or colour (C = 3); other C show their first channel.
    `class_names` names the targets (for the output layer); otherwise they are channels.
    """
    images = _cells(as_array(images), "images")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {images.shape}")
    low, high = (float(v) for v in value_range)
    if images.shape[1] == 3:
        images = _colour_cells(images, low, high)
    name = (lambda t: f"class {_class_name(class_names, t)}") if class_names else (lambda t: f"channel {t}")
    titles = [caption_lines(name(int(t)), f"{b:.1f}→{a:.1f}") for t, b, a in zip(targets, before, after)]
    title = f"What excites {node}" if node else "Maximised activations"
    return _grid(images[:, :1] if images.shape[1] != 3 else images, titles, [RIGHT_COLOUR] * len(images),
                 columns, title, _colour_axis(GREY_SCALE, low, high), "maximised")


def saliency_figure(image, saliency_map, target: int, predicted: int, probability: float,
                    class_names: Sequence[str] = (), value_range: tuple[float, float] = (0.0, 1.0)) -> go.Figure:
    """The input beside |d score / d pixel| for class `target`: red where a pixel matters most."""
    image, saliency_map = as_array(image), as_array(saliency_map)
    low, high = (float(v) for v in value_range)
    shown = _colour_cells(image, low, high) if image.ndim == 3 and image.shape[0] == 3 else image
    titles = [caption_lines("input", f"pred {_class_name(class_names, predicted)} ({probability:.0%})"),
              caption_lines("saliency", f"for {_class_name(class_names, target)}")]
    largest = float(saliency_map.max(initial=0.0))
    return _grid([shown, saliency_map], titles, [RIGHT_COLOUR] * 2, 2, "Which pixels move the score",
                 _colour_axis(GREY_SCALE, low, high), "saliency",
                 _colour_axis(RED_SCALE, 0.0, largest if largest > 0 else 1.0, "|gradient|"), (1,))


def adversarial_figure(original, perturbation, perturbed, epsilon: float,
                       original_prediction: tuple[int, float], perturbed_prediction: tuple[int, float],
                       smallest_epsilon: float | None = None, class_names: Sequence[str] = (),
                       value_range: tuple[float, float] = (0.0, 1.0)) -> go.Figure:
    """Original, perturbation (diverging, +-epsilon) and perturbed image, each prediction as (class, confidence).

    The perturbed caption turns red when the prediction flipped; the title states the smallest
    epsilon that flips it (or that none up to the search's end does, for None).
    """
    original, perturbation, perturbed = (as_array(v) for v in (original, perturbation, perturbed))
    low, high = (float(v) for v in value_range)
    if original.ndim == 3 and original.shape[0] == 3:
        original, perturbed = _colour_cells(original, low, high), _colour_cells(perturbed, low, high)
        perturbation = perturbation.mean(axis=0)  # one signed map: colour channels averaged
    (before, before_confidence), (after, after_confidence) = original_prediction, perturbed_prediction
    flipped = int(before) != int(after)
    titles = [caption_lines("original", f"pred {_class_name(class_names, int(before))} ({before_confidence:.0%})"),
              caption_lines("perturbation", f"ε = {epsilon:.3g}"),
              caption_lines("perturbed", f"pred {_class_name(class_names, int(after))} ({after_confidence:.0%})")]
    colours = [RIGHT_COLOUR, RIGHT_COLOUR, WRONG_COLOUR if flipped else RIGHT_COLOUR]
    smallest = ("no flip found" if smallest_epsilon is None
                else f"smallest flipping ε = {smallest_epsilon:.3g}")
    return _grid([original, perturbation, perturbed], titles, colours, 3, f"Fast gradient sign: {smallest}",
                 _colour_axis(GREY_SCALE, low, high), "adversarial",
                 _signed_axis(perturbation, epsilon if epsilon > 0 else None, "change"), (1,))
