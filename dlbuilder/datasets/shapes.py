"""Drawing the synthetic `shapes` images with numpy: circle, square, triangle, stripes."""

from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("circle", "square", "triangle", "stripes")
CHUNK = 1000  # images drawn at once, to bound memory at 64 x 64


def _local_coordinates(size: int, count: int, rng: np.random.Generator):
    """Pixel coordinates (count, size, size) in each shape's own rotated frame, radius 1."""
    radius = rng.uniform(0.22, 0.38, count) * size
    center = rng.uniform(radius[:, None], size - radius[:, None], (count, 2))  # stays inside
    angle = rng.uniform(0, 2 * np.pi, count)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    dy = (rows[None] - center[:, 0, None, None]) / radius[:, None, None]
    dx = (cols[None] - center[:, 1, None, None]) / radius[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return cos * dx + sin * dy, -sin * dx + cos * dy, radius


def _triangle_mask(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Equilateral triangle inscribed in the unit circle: inside all three edges (inradius 1/2)."""
    inside = np.ones(u.shape, dtype=bool)
    for k in range(3):
        normal = np.pi / 2 + 2 * np.pi * k / 3
        inside &= u * np.cos(normal) + v * np.sin(normal) <= 0.5
    return inside


def _draw_chunk(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Filled shapes (count, size, size) in [0, 1] for class indices `labels`."""
    u, v, radius = _local_coordinates(size, len(labels), rng)
    # stripe width in pixels: at least 2, about 3-4 stripes per shape
    period = np.maximum(2.0, radius / 3.5)[:, None, None] / radius[:, None, None]
    masks = {
        0: u * u + v * v <= 1,
        1: np.maximum(np.abs(u), np.abs(v)) <= 0.8,
        2: _triangle_mask(u, v),
        3: (np.maximum(np.abs(u), np.abs(v)) <= 0.9) & (np.sin(np.pi * u / period) > 0),
    }
    label_grid = labels[:, None, None]
    mask = np.zeros(u.shape, dtype=bool)
    for label, shape_mask in masks.items():
        mask |= (label_grid == label) & shape_mask
    brightness = rng.uniform(0.6, 1.0, len(labels))[:, None, None]
    return mask * brightness


def draw_shapes(labels: np.ndarray, size: int, noise: float,
                rng: np.random.Generator) -> np.ndarray:
    """Images (N, size, size) in [0, 1]: one shape per label at a random place, size and angle."""
    images = np.concatenate([_draw_chunk(labels[start:start + CHUNK], size, rng)
                             for start in range(0, len(labels), CHUNK)])
    images += rng.normal(0, noise, images.shape)
    return np.clip(images, 0, 1)
