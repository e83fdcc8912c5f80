"""2-D classification sets: TensorFlow Playground's four (dataset.ts) plus moons and 3-5 classes.

Playground labels are -1/+1; here the +1 class is index 1 and the -1 class index 0. `noise`
arrives as Playground's 0-0.5 scale (the 0-50 slider divided by 100).
"""

from __future__ import annotations

import numpy as np

from dlbuilder.datasets.base import DatasetSpec
from dlbuilder.datasets.features import points_spec
from dlbuilder.params import Param

CATEGORY = "2-D classification"


def _halves(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def circle_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """classifyCircleData: inside radius 2.5 vs a ring 3.5-5; noise jitters the labelling point."""
    radius = 5.0
    n_in, n_out = _halves(n)
    r = np.concatenate([rng.uniform(0, radius * 0.5, n_in),
                        rng.uniform(radius * 0.7, radius, n_out)])
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)  # (N, 2)
    jitter = rng.uniform(-radius, radius, (n, 2)) * noise
    labels = (np.linalg.norm(points + jitter, axis=1) < radius * 0.5).astype(np.int64)
    return points, labels


def xor_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """classifyXORData: quadrants; class 1 where x*y >= 0 (measured at the jittered point)."""
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, 0.3, -0.3)  # padding keeps points off the axes
    jittered = points + rng.uniform(-5, 5, (n, 2)) * noise
    labels = (jittered[:, 0] * jittered[:, 1] >= 0).astype(np.int64)
    return points, labels


def gaussian_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """classifyTwoGaussData: class 1 around (2, 2), class 0 around (-2, -2); variance 0.5-4."""
    variance = 0.5 + noise / 0.5 * 3.5
    n_pos, n_neg = _halves(n)
    centers = np.repeat(np.array([[2.0, 2.0], [-2.0, -2.0]]), [n_pos, n_neg], axis=0)
    points = centers + rng.normal(0, np.sqrt(variance), (n, 2))
    labels = np.repeat(np.array([1, 0]), [n_pos, n_neg])
    return points, labels


def _spiral_arms(counts: list[int], noise: float, rng: np.random.Generator):
    """Arms of classifySpiralData, arm k turned by 2*pi*k/len(counts); jitter uniform +-noise."""
    points, labels = [], []
    for arm, count in enumerate(counts):
        i = np.arange(count)
        r = i / count * 5
        t = 1.75 * i / count * 2 * np.pi + 2 * np.pi * arm / len(counts)
        arm_points = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        points.append(arm_points + rng.uniform(-1, 1, (count, 2)) * noise)
        labels.append(np.full(count, arm))
    return np.concatenate(points), np.concatenate(labels)


def _class_counts(n: int, k: int) -> list[int]:
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def spiral_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """classifySpiralData: two interleaved arms (class 1 starts at angle 0, class 0 at pi)."""
    points, arms = _spiral_arms(list(_halves(n))[::-1], noise, rng)
    return points, 1 - arms


def moons_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """Two interleaving half circles (like sklearn make_moons), scaled by 3.5 to fill [-6, 6]."""
    n_upper, n_lower = _halves(n)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t[:n_upper]), np.sin(t[:n_upper])], axis=1)
    lower = np.stack([1 - np.cos(t[n_upper:]), 0.5 - np.sin(t[n_upper:])], axis=1)
    points = (np.concatenate([upper, lower]) - [0.5, 0.25]) * 3.5
    points += rng.normal(0, noise * 3.5, (n, 2))  # noise 0.5 = half a moon radius
    labels = np.repeat(np.array([0, 1]), [n_upper, n_lower])
    return points, labels


def blobs_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """k Gaussian blobs on a circle of radius 4; variance 0.5-4 as in the two-Gaussian set."""
    k = params["num_classes"]
    labels = np.repeat(np.arange(k), _class_counts(n, k))
    angle = np.pi / 2 + 2 * np.pi * labels / k
    centers = 4 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    points = centers + rng.normal(0, np.sqrt(0.5 + noise / 0.5 * 3.5), (n, 2))
    return points, labels


def spiral_arms_points(n: int, noise: float, rng: np.random.Generator, params: dict):
    """k interleaved spiral arms, one class each (Playground's spiral with k arms)."""
    return _spiral_arms(_class_counts(n, params["num_classes"]), noise, rng)


NUM_CLASSES = Param("num_classes", "int", 3, "how many classes (one blob or arm each)",
                    min=3, max=5)


def _fixed(*names: str):
    return lambda params: names


def _numbered(params: dict) -> tuple[str, ...]:
    return tuple(f"class {c}" for c in range(params["num_classes"]))


PLAYGROUND_SETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    points_spec("circle", "Circle", CATEGORY,
                "A disc of one class inside a ring of the other (Playground).",
                circle_points, class_names=_fixed("outside", "inside")),
    points_spec("xor", "Exclusive or", CATEGORY,
                "Four quadrants: same-sign corners against opposite-sign ones (Playground).",
                xor_points, class_names=_fixed("opposite signs", "same signs")),
    points_spec("gaussian", "Two Gaussians", CATEGORY,
                "Two Gaussian clouds; noise widens them until they overlap (Playground).",
                gaussian_points, class_names=_fixed("around (-2, -2)", "around (2, 2)")),
    points_spec("spiral", "Spiral", CATEGORY,
                "Two interleaved spiral arms, the hardest Playground set.",
                spiral_points, class_names=_fixed("arm B", "arm A")),
    points_spec("moons", "Two moons", CATEGORY,
                "Two interleaving half circles; a curved boundary is needed.",
                moons_points, class_names=_fixed("upper moon", "lower moon"), noise=10),
    points_spec("blobs", "Gaussian blobs (3-5 classes)", CATEGORY,
                "Several Gaussian clouds, one class each: a first softmax classifier.",
                blobs_points, class_names=_numbered, extra_params=(NUM_CLASSES,)),
    points_spec("spiral_arms", "Spiral arms (3-5 classes)", CATEGORY,
                "Several interleaved spiral arms, one class each: needs a non-linear net.",
                spiral_arms_points, class_names=_numbered, extra_params=(NUM_CLASSES,)),
)}
