"""Check autograd against central finite differences, layer by layer, on the student's own network.

The check runs on a float64 copy of the model on the CPU (the model itself is never changed).
For a seeded sample of parameter entries per layer it compares autograd's derivative `a` of
a scalar objective with the central difference `n = (f(w + h) - f(w - h)) / 2h`, h = 1e-5,
and reports the largest relative error

    |a - n| / max(|a|, |n|, floor)        floor = FLOOR (1e-3) x the largest |derivative| of the model

against TOLERANCE = 1e-6. In float64 a correct gradient gives ~1e-8 or less; a wrong one
~1e-1. The floor keeps entries whose derivative is about 0 (a key bias in attention, a token
not in the batch) from dividing rounding noise (~1e-11 of the objective at h = 1e-5) by almost
nothing: far smaller entries are judged by their absolute error on the model's gradient scale.

Dropout: in mode "train" every forward runs with the same random seed, so all evaluations
share one fixed dropout mask (and batch norm uses the batch's statistics, as in training);
in mode "eval" dropout is off and batch norm uses its running statistics. At a kink (ReLU
exactly at 0, e.g. a zero bias on an all-zero image patch) the function has no derivative:
where the one-sided differences disagree, the entry is counted as a kink and not judged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from dlbuilder.training.losses import LOSSES, compute_loss

STEP = 1e-5  # near the best h for float64 (~eps^(1/3)): truncation and rounding both ~1e-11
TOLERANCE = 1e-6
FLOOR = 1e-3  # of the largest |derivative|: the denominator never goes below it
KINK = 1e-3  # one-sided slopes differing by more than this (relative) mark a kink
PER_LAYER = 12  # entries checked per layer (at least one per parameter tensor)
SEED = 0

Objective = Callable[[torch.Tensor], torch.Tensor]  # model output -> scalar


@dataclass(frozen=True)
class LayerCheck:
    """One layer's result: status "pass", "fail", "no parameters" or "only kinks"."""

    node: str
    checked: int  # entries compared (kinks not included)
    kinks: int
    max_error: float | None  # largest relative error; None when nothing was compared
    worst: str  # the entry with the largest error, e.g. "weight[3, 1]"
    autograd: float | None  # its two derivatives
    numeric: float | None
    tolerance: float

    @property
    def status(self) -> str:
        if self.max_error is None:
            return "only kinks" if self.kinks else "no parameters"
        return "pass" if self.max_error <= self.tolerance else "fail"

    @property
    def passed(self) -> bool | None:
        """True or False, or None when the layer had nothing to check."""
        return None if self.max_error is None else self.status == "pass"


@dataclass(frozen=True)
class GradientCheck:
    """Every layer's result, in the network's order, with the settings used."""

    layers: list[LayerCheck]
    tolerance: float
    step: float
    mode: str

    @property
    def passed(self) -> bool:
        """No layer failed (layers without parameters do not count)."""
        return all(layer.passed is not False for layer in self.layers)

    def rows(self) -> list[dict]:
        """One plain dict per layer, for a table."""
        return [{"layer": c.node, "result": c.status, "largest relative error": c.max_error,
                 "entries checked": c.checked, "kinks skipped": c.kinks, "worst entry": c.worst,
                 "autograd": c.autograd, "finite difference": c.numeric} for c in self.layers]


def projection_objective(output_shape: torch.Size, seed: int = SEED) -> Objective:
    """sum(output * R) for a fixed random R: every output value gets a different weight."""
    weights = torch.randn(output_shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return lambda output: (output * weights).sum()


def loss_objective(loss: str, targets: torch.Tensor) -> Objective:
    """The training loss (a `LOSSES` name) against `targets`, in float64."""
    targets = targets.cpu()
    targets = targets.double() if targets.is_floating_point() else targets
    return lambda output: compute_loss(LOSSES[loss].build(), loss, output, targets)


def _evaluator(model: nn.Module, inputs: tuple, objective: Objective, mode: str) -> Callable[[], torch.Tensor]:
    """f() with the same dropout mask every call (mode "train") or no dropout at all ("eval")."""
    model.train(mode == "train")

    def evaluate() -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):  # the same masks each call; the global RNG is untouched
            torch.manual_seed(SEED)
            return objective(model(*inputs))
    return evaluate


def _sample(params: list[tuple[str, nn.Parameter]], count: int, generator: torch.Generator):
    """(name, parameter, flat index) entries: `count` spread over the tensors, one each at least."""
    each = max(1, count // max(1, len(params)))
    chosen = []
    for name, param in params:
        numel = param.numel()
        # a permutation of a huge embedding would cost memory; a repeat among few draws is harmless
        picks = (torch.randperm(numel, generator=generator)[:each] if numel <= 100_000
                 else torch.randint(numel, (each,), generator=generator))
        chosen += [(name, param, int(i)) for i in picks]
    return chosen


def _entry_name(name: str, param: torch.Tensor, flat: int) -> str:
    index = [int(i) for i in torch.unravel_index(torch.tensor(flat), param.shape)]
    return f"{name}[{', '.join(map(str, index))}]"


@dataclass(frozen=True)
class _Probe:
    """What every entry's comparison shares: f(), its value at the weights, h, floor, tolerance."""

    evaluate: Callable[[], torch.Tensor]
    centre: float
    step: float
    floor: float
    tolerance: float


def _compare(probe: _Probe, param: torch.Tensor, flat: int, derivative: float) -> tuple[float, float] | None:
    """(relative error, finite difference) at one entry; None at a kink."""
    view, step = param.data.view(-1), probe.step
    original = view[flat].item()
    with torch.no_grad():
        view[flat] = original + step
        above = float(probe.evaluate())
        view[flat] = original - step
        below = float(probe.evaluate())
        view[flat] = original
    forward, backward = (above - probe.centre) / step, (probe.centre - below) / step
    if abs(forward - backward) > KINK * max(abs(forward), abs(backward), probe.floor):
        return None
    numeric = (above - below) / (2 * step)
    return abs(derivative - numeric) / max(abs(derivative), abs(numeric), probe.floor), numeric


def _check_layer(node: str, params, gradients: dict, probe: _Probe, per_layer: int,
                 generator: torch.Generator) -> LayerCheck:
    worst = (None, "", None, None)  # error, entry, autograd, numeric
    checked = kinks = 0
    for name, param, flat in _sample(params, per_layer, generator):
        derivative = float(gradients[id(param)].reshape(-1)[flat])
        result = _compare(probe, param, flat, derivative)
        if result is None:
            kinks += 1
            continue
        checked += 1
        error, numeric = result
        if worst[0] is None or error > worst[0]:
            worst = (error, _entry_name(name, param, flat), derivative, numeric)
    return LayerCheck(node, checked, kinks, worst[0], worst[1], worst[2], worst[3], probe.tolerance)


def gradient_check(model: nn.Module, inputs: tuple[torch.Tensor, ...], objective: Objective | None = None,
                   per_layer: int = PER_LAYER, mode: str = "train", step: float = STEP,
                   tolerance: float = TOLERANCE, seed: int = SEED) -> GradientCheck:
    """Autograd against central differences for a seeded sample of each layer's parameters (float64, CPU).

    `objective` maps the output to a scalar (default: a fixed random projection of the output;
    `loss_objective` gives the training loss). Layers are the model's children (node ids). Each
    checked entry costs two forward passes: keep `inputs` small (2-16 examples; at least 2 for
    batch norm in mode "train").
    """
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' (fixed dropout masks) or 'eval' (no dropout), not {mode!r}")
    checked_model = copy.deepcopy(model).to("cpu", torch.float64)
    inputs = tuple(x.detach().cpu().double() if x.is_floating_point() else x.cpu() for x in inputs)
    if objective is None:
        with torch.no_grad():
            objective = projection_objective(checked_model.eval()(*inputs).shape, seed)
    evaluate = _evaluator(checked_model, inputs, objective, mode)
    value = evaluate()
    params = [p for p in checked_model.parameters() if p.requires_grad]
    gradients = torch.autograd.grad(value, params, allow_unused=True) if params else ()
    by_id = {id(p): (g if g is not None else torch.zeros_like(p)) for p, g in zip(params, gradients)}
    largest = max((float(g.abs().max()) for g in by_id.values() if g.numel()), default=0.0)
    probe = _Probe(evaluate, float(value.detach()), step, max(FLOOR * largest, 1e-300), tolerance)
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for node, module in checked_model.named_children():
        named = [(name, p) for name, p in module.named_parameters() if id(p) in by_id]
        layers.append(_check_layer(node, named, by_id, probe, per_layer, generator))
    return GradientCheck(layers, tolerance, step, mode)
