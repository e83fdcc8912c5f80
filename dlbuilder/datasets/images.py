"""Small built-in image sets: scikit-learn's 8x8 digits and synthetic shapes (no download)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetSpec
from dlbuilder.datasets.common import (
    clean_params,
    make_bundle,
    noise_param,
    num_samples_param,
    split_indices,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.datasets.shapes import SHAPE_NAMES, draw_shapes
from dlbuilder.params import Param

CATEGORY = "images"
DIGIT_NAMES = tuple(str(d) for d in range(10))

DIGITS_PARAMS = (train_fraction_param(0.8), val_fraction_param(0.2))


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits: images (N, 8, 8) in [0, 1] and labels (N,)."""
    from sklearn.datasets import load_digits  # ships with scikit-learn, no network

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # pixel values are 0-16
    images.setflags(write=False)
    return images, digits.target.astype(np.int64)


def describe_digits(params: dict) -> DataInfo:
    """Grey 8x8 images (1, 8, 8), ten classes."""
    clean_params(DIGITS_PARAMS, params)
    return DataInfo(input_shape=(1, 8, 8), task="classification", num_classes=10,
                    class_names=DIGIT_NAMES, display="image")


def load_digits_set(params: dict, seed: int) -> DatasetBundle:
    """A stratified random split of the 1,797 digits."""
    info = describe_digits(params)
    p = clean_params(DIGITS_PARAMS, params)
    images, labels = _digits_arrays()
    rng = np.random.default_rng(seed)
    parts = split_indices(len(labels), rng, p["train_fraction"], p["val_fraction"], labels)
    extras = {"image_size": 8, "value_range": (0.0, 1.0)}
    return make_bundle(info, images[:, None], labels, parts, extras)


SHAPES_PARAMS = (
    num_samples_param(1000, low=100, high=10000),
    Param("size", "int", 24, "image side length in pixels", min=16, max=64),
    noise_param(10),
    train_fraction_param(0.8),
    val_fraction_param(0.2),
)


def describe_shapes(params: dict) -> DataInfo:
    """Grey images (1, size, size), four classes."""
    p = clean_params(SHAPES_PARAMS, params)
    return DataInfo(input_shape=(1, p["size"], p["size"]), task="classification",
                    num_classes=len(SHAPE_NAMES), class_names=SHAPE_NAMES, display="image")


def load_shapes(params: dict, seed: int) -> DatasetBundle:
    """Balanced classes; pixel noise with std noise/100, clipped to [0, 1]."""
    info = describe_shapes(params)
    p = clean_params(SHAPES_PARAMS, params)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(p["num_samples"]) % len(SHAPE_NAMES))
    images = draw_shapes(labels, p["size"], p["noise"] / 100, rng)
    parts = split_indices(len(labels), rng, p["train_fraction"], p["val_fraction"], labels)
    extras = {"image_size": p["size"], "value_range": (0.0, 1.0)}
    return make_bundle(info, images[:, None], labels, parts, extras)


IMAGE_SETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        name="digits", title="Digits 8x8", category=CATEGORY,
        doc="1,797 handwritten digits, 8x8 pixels (scikit-learn), ten classes.",
        params=DIGITS_PARAMS, describe=describe_digits, load=load_digits_set),
    "shapes": DatasetSpec(
        name="shapes", title="Shapes", category=CATEGORY,
        doc="Synthetic circles, squares, triangles and stripes at random places and angles.",
        params=SHAPES_PARAMS, describe=describe_shapes, load=load_shapes),
}
