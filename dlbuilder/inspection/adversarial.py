"""Gradients with respect to the input image: saliency maps and adversarial examples.

Saliency (Simonyan et al. 2014) is |d class score / d pixel|. Adversarial examples use the fast
gradient sign method (Goodfellow et al. 2015, "DNNs are easily fooled"):
x' = clip(x + epsilon * sign(d loss / d x)) to the data's valid range, so |x' - x| <= epsilon
everywhere. The loss is the cross-entropy against `label` (the network's own prediction if None,
which works even for an example it already gets wrong). The prediction "flips" when the class of
x' differs from the class of x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlbuilder.compile import GraphModel
from dlbuilder.inspection.convolution import as_image, check_number, checked_range, eval_mode
from dlbuilder.probes import class_probabilities_of

MAX_EPSILON = 1.0  # as a share of the value range's width
SEARCH_GRID = 50  # epsilons tried, evenly spaced up to the search's maximum
MAX_SEARCH_GRID = 1000
SEARCH_CHUNK = 64  # perturbed images per forward pass: bounds memory for large images
BISECTIONS = 12  # halvings of the first flipping grid step: 1/4096 of a step


@dataclass(frozen=True)
class Saliency:
    """|d score / d input|, the largest over colour channels: map (H, W), for one image and class."""

    map: np.ndarray
    target: int
    predicted: int
    probability: float  # of the predicted class


@dataclass(frozen=True)
class Adversarial:
    """One fast-gradient-sign example; images (C, H, W) in the data's units."""

    original: np.ndarray
    perturbation: np.ndarray  # perturbed - original, within [-epsilon, epsilon]
    perturbed: np.ndarray
    epsilon: float
    label: int  # the class whose loss the step increases
    original_class: int
    original_confidence: float
    perturbed_class: int
    perturbed_confidence: float
    smallest_epsilon: float | None  # smallest that flips (see smallest_flipping_epsilon); None if none does

    @property
    def flipped(self) -> bool:
        """Whether the perturbed image is classified differently from the original."""
        return self.perturbed_class != self.original_class


def class_scores(output: torch.Tensor) -> torch.Tensor:
    """Scores (B, K) of each class: the outputs, or [-z, z] for one output unit z (sigmoid classes)."""
    return torch.cat([-output, output], dim=-1) if output.shape[-1] == 1 else output


def saliency(model: GraphModel, image, target: int | None = None) -> Saliency:
    """How much each pixel moves the score of class `target` (the predicted class if None)."""
    x = as_image(model, image).requires_grad_(True)
    with eval_mode(model):
        output = model(x)
        if output.ndim != 2:
            raise ValueError("saliency needs a classifier that gives one score per class")
        scores = class_scores(output)
        probabilities = class_probabilities_of(output.detach())[0]
        predicted = int(probabilities.argmax())
        target = predicted if target is None else int(target)
        if not 0 <= target < scores.shape[1]:
            raise ValueError(f"the network has {scores.shape[1]} classes: choose a class from 0 to "
                             f"{scores.shape[1] - 1}")
        (gradient,) = torch.autograd.grad(scores[0, target], x)
    saliency_map = gradient[0].abs().amax(dim=0).float().cpu().numpy()  # (H, W)
    return Saliency(saliency_map, target, predicted, float(probabilities[predicted]))


def _predict(model: GraphModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes (B,), confidences (B,)) of a batch, without gradients."""
    with torch.no_grad():
        probabilities = class_probabilities_of(model(x).float())
    confidence, classes = probabilities.max(dim=-1)
    return classes, confidence


def gradient_sign(model: GraphModel, x: torch.Tensor, label: int | None) -> tuple[torch.Tensor, int]:
    """sign(d cross-entropy / d x) for a (1, C, H, W) image, and the label used."""
    x = x.detach().requires_grad_(True)
    scores = class_scores(model(x).float())
    if scores.ndim != 2:
        raise ValueError("adversarial examples need a classifier that gives one score per class")
    label = int(scores.argmax(dim=-1)[0]) if label is None else int(label)
    if not 0 <= label < scores.shape[1]:
        raise ValueError(f"the network has {scores.shape[1]} classes: choose a label from 0 to {scores.shape[1] - 1}")
    loss = F.cross_entropy(scores, torch.tensor([label], device=x.device))
    (gradient,) = torch.autograd.grad(loss, x)
    return gradient.sign(), label


def _perturb(x: torch.Tensor, sign: torch.Tensor, epsilons: torch.Tensor,
             value_range: tuple[float, float] | None) -> torch.Tensor:
    """(E, C, H, W): x moved by each epsilon along sign, clipped to value_range."""
    moved = x + epsilons.view(-1, 1, 1, 1).to(x) * sign
    return moved if value_range is None else moved.clamp(*value_range)


def _first_flip(model, x, sign, original_class, value_range, epsilons: torch.Tensor) -> int | None:
    """Index of the first epsilon whose image is classified differently, trying SEARCH_CHUNK at a time."""
    for start in range(0, len(epsilons), SEARCH_CHUNK):
        chunk = epsilons[start:start + SEARCH_CHUNK]
        classes, _ = _predict(model, _perturb(x, sign, chunk, value_range))
        flips = (classes != original_class).nonzero()
        if len(flips):
            return start + int(flips[0])
    return None


def _search(model, x, sign, original_class, value_range, max_epsilon, grid) -> float | None:
    """Smallest flipping epsilon: the first flip on the grid, then bisection between it and the step below."""
    epsilons = torch.linspace(0.0, max_epsilon, grid + 1)[1:]
    first = _first_flip(model, x, sign, original_class, value_range, epsilons)
    if first is None:
        return None
    low, high = (float(epsilons[first - 1]) if first else 0.0), float(epsilons[first])
    for _ in range(BISECTIONS):
        middle = (low + high) / 2
        classes, _ = _predict(model, _perturb(x, sign, torch.tensor([middle]), value_range))
        low, high = (low, middle) if int(classes[0]) != original_class else (middle, high)
    return high


def smallest_flipping_epsilon(model: GraphModel, image, label: int | None = None,
                              value_range: tuple[float, float] | None = (0.0, 1.0),
                              max_epsilon: float | None = None, grid: int = SEARCH_GRID) -> float | None:
    """The smallest epsilon whose fast-gradient-sign image changes the prediction, or None up to max_epsilon.

    Tries `grid` epsilons evenly spaced up to `max_epsilon` (default: a quarter of the value range,
    or of 1), SEARCH_CHUNK per forward pass, then bisects BISECTIONS times between the first that
    flips and the one below it. The flip need not be monotone in epsilon: this is the first flip
    along the grid, exact to max_epsilon / grid / 2**BISECTIONS; no epsilon on the grid below it flips.
    """
    x = as_image(model, image)
    value_range, max_epsilon, grid = _checked_search(value_range, max_epsilon, grid)
    with eval_mode(model):
        sign, label = gradient_sign(model, x, label)
        original_class = int(_predict(model, x)[0][0])
        return _search(model, x, sign, original_class, value_range, max_epsilon, grid)


def _width(value_range: tuple[float, float] | None) -> float:
    return 1.0 if value_range is None else value_range[1] - value_range[0]


def _checked_search(value_range, max_epsilon: float | None, grid: int):
    """(value_range, max_epsilon, grid) checked; max_epsilon defaults to a quarter of the range's width."""
    value_range = None if value_range is None else checked_range(value_range)
    width = _width(value_range)
    max_epsilon = width / 4 if max_epsilon is None else max_epsilon
    max_epsilon = check_number("max_epsilon", max_epsilon, 1e-9, MAX_EPSILON * width)
    return value_range, max_epsilon, int(check_number("grid", grid, 1, MAX_SEARCH_GRID))


def adversarial_example(model: GraphModel, image, epsilon: float, label: int | None = None,
                        value_range: tuple[float, float] | None = (0.0, 1.0), search: bool = True,
                        max_epsilon: float | None = None, grid: int = SEARCH_GRID) -> Adversarial:
    """The fast-gradient-sign image at `epsilon`, both predictions, and (if `search`) the smallest flip."""
    x = as_image(model, image)
    value_range, max_epsilon, grid = _checked_search(value_range, max_epsilon, grid)
    epsilon = check_number("epsilon", epsilon, 0.0, MAX_EPSILON * _width(value_range))
    with eval_mode(model):
        sign, label = gradient_sign(model, x, label)
        perturbed = _perturb(x, sign, torch.tensor([epsilon]), value_range)
        classes, confidence = _predict(model, torch.cat([x, perturbed]))
        smallest = (_search(model, x, sign, int(classes[0]), value_range, max_epsilon, grid)
                    if search else None)
    original, moved = x[0].float().cpu().numpy(), perturbed[0].float().cpu().numpy()
    return Adversarial(original=original, perturbation=moved - original, perturbed=moved, epsilon=epsilon,
                       label=label, original_class=int(classes[0]), original_confidence=float(confidence[0]),
                       perturbed_class=int(classes[1]), perturbed_confidence=float(confidence[1]),
                       smallest_epsilon=smallest)
