"""Loss landscapes of any network: a filter-normalised random plane (Li et al. 2018), grids scored
coarse first, and the line from initial to final weights (Goodfellow et al. 2015). The training
path's PCA plane is in `training_path.py`, the grids scored level by level in `grid.py`.

Weights travel as flat float32 vectors in `model.parameters()` order, as the trainer's snapshots
store them. The loss is the data loss (no L1/L2 penalty) in eval mode on a fixed subset of
examples, as the epoch records report it; buffers (BatchNorm's running statistics) stay the model's.
Many weight vectors are scored in one call with `torch.func.functional_call` under `torch.vmap`
where that pays (Playground-sized nets: ~5x on one CPU thread), one by one where it does not
(CNNs, wider MLPs: plain compute) or where vmap refuses the network; the probe measures which.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from dlbuilder.inspection.grid import RESOLUTIONS, LossSurface, Report, progressive_surface
from dlbuilder.probes import evaluating
from dlbuilder.training.evaluation import EVAL_VALUES, chunk_size
from dlbuilder.training.losses import compute_loss

EXAMPLES = 512  # the fixed evaluation subset (as the trainer's per-epoch training score)
# The first call times the loop on TRIAL_LOOPS points and vmap on TRIAL_POINTS, twice if promising;
# vmap must win by VMAP_MARGIN: on compute-bound nets it slows down as more points are batched.
TRIAL_LOOPS = 4
TRIAL_POINTS = 8
VMAP_MARGIN = 1.5
WEIGHT_VALUES = 16 * 1024 ** 2  # float32 values of weight vectors built at once (64 MB)


@dataclass(frozen=True)
class Interpolation:
    """The loss along the line start + alpha * (end - start): alpha 0 is the start, 1 the end."""

    alphas: np.ndarray  # (n,)
    loss: np.ndarray  # (n,)
    examples: int


class LossProbe:
    """The loss of one network at many flat weight vectors, on a fixed subset of examples.

    Scoring switches the model to eval mode (and back): give it a model of its own (`prepare` plus
    `load_state_dict` of the job's weights), never one a thread is training.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, t: torch.Tensor, loss_fn: nn.Module, loss: str,
                 batched: bool = True, more_x: tuple[torch.Tensor, ...] = ()):
        self.model, self.x, self.t, self.loss_fn, self.loss = model, x, t, loss_fn, loss
        self.more_x = tuple(more_x)  # the network's further inputs (seq2seq: decoder input), rows as x
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.size = sum(self.sizes)
        self.device = x.device
        self.method = "auto" if batched else "loop"  # auto: the first call times both and keeps the faster
        self._point_seconds: float | None = None
        values = getattr(model, "values_per_example", 0) or 1_000  # set by compile_graph
        # weight vectors per vmapped call: their activations for the whole subset stay within EVAL_VALUES
        self.per_call = max(1, EVAL_VALUES // (values * max(1, len(x))))

    @property
    def examples(self) -> int:
        return len(self.x)

    def copy(self) -> LossProbe:
        """A probe of a deep copy of the model (same data, same chosen method): for a background
        thread, while the page keeps using this one."""
        twin = LossProbe(copy.deepcopy(self.model), self.x, self.t, self.loss_fn, self.loss, more_x=self.more_x)
        twin.method, twin._point_seconds = self.method, self._point_seconds
        return twin

    def point_seconds(self) -> float:
        """Seconds one loss evaluation at the model's own weights takes here (the faster of two tries,
        measured on the first call)."""
        if self._point_seconds is None:
            weights = flat_weights(self.model).to(self.device)[None]
            best = float("inf")
            with evaluating(self.model):
                for _ in range(2):
                    tick = time.perf_counter()
                    self._looped(weights)
                    best = min(best, time.perf_counter() - tick)
            self._point_seconds = best
        return self._point_seconds

    def __call__(self, weights: torch.Tensor) -> np.ndarray:
        """The loss at each row of `weights` (P, D), as float64 (P,)."""
        weights = torch.as_tensor(weights).to(self.device, torch.float32).reshape(-1, self.size)
        with evaluating(self.model):
            if self.method == "auto" and len(weights) > TRIAL_LOOPS:
                return self._choose(weights)
            if self.method == "vmap":
                try:
                    return self._batched(weights)
                except Exception:  # vmap refuses some layers (in-place buffers, data-dependent code)
                    self.method = "loop"
            return self._looped(weights)

    def _choose(self, weights: torch.Tensor) -> np.ndarray:
        """Score a few points each way and keep the faster way: vmap pays where the framework's overhead
        dominates (Playground: 5x), not on CNNs (LeNet: 2-3x slower, grouped convolutions) nor on a
        64-256-10 MLP on digits (plain compute), so it is measured, not guessed."""
        results, loop_cost, vmap_cost = [], float("inf"), float("inf")
        for start in range(TRIAL_LOOPS):  # the cheapest of a few: the first call is slow (allocations)
            tick = time.perf_counter()
            results.append(self._looped(weights[start:start + 1]))
            loop_cost = min(loop_cost, time.perf_counter() - tick)
        done = TRIAL_LOOPS
        try:
            for _ in range(2):
                trial = weights[done:done + min(TRIAL_POINTS, self.per_call)]
                if not len(trial):
                    break
                tick = time.perf_counter()
                results.append(self._batched(trial))
                vmap_cost = min(vmap_cost, (time.perf_counter() - tick) / max(1, len(trial)))
                done += len(trial)
                if vmap_cost > 2 * loop_cost:  # hopeless (CNNs): a second trial would only delay the picture
                    break
        except Exception:  # vmap refuses some layers (in-place buffers, data-dependent code)
            pass
        self.method = "vmap" if vmap_cost * VMAP_MARGIN < loop_cost else "loop"
        rest = weights[done:]
        return np.concatenate(results + [self(rest) if len(rest) else np.zeros(0)])

    def combination(self, origin: torch.Tensor, directions: torch.Tensor, coefficients) -> np.ndarray:
        """The loss at origin + coefficients @ directions for each row of coefficients (P, k)."""
        origin = torch.as_tensor(origin).to(self.device, torch.float32)
        directions = torch.as_tensor(directions).to(self.device, torch.float32).reshape(-1, self.size)
        coefficients = torch.as_tensor(np.asarray(coefficients), dtype=torch.float32, device=self.device)
        rows = max(1, WEIGHT_VALUES // max(1, self.size))  # (rows, D) weights built at once
        parts = [self(origin + coefficients[s:s + rows] @ directions) for s in range(0, len(coefficients), rows)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _parameters(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(flat, self.sizes)
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes)}

    def _loss_at(self, flat: torch.Tensor) -> torch.Tensor:
        prediction = functional_call(self.model, self._parameters(flat), (self.x, *self.more_x))
        return compute_loss(self.loss_fn, self.loss, prediction, self.t)

    def _batched(self, weights: torch.Tensor) -> np.ndarray:
        batched = torch.vmap(self._loss_at)
        parts = [batched(weights[s:s + self.per_call]) for s in range(0, len(weights), self.per_call)]
        return torch.cat(parts).double().cpu().numpy()

    def _looped(self, weights: torch.Tensor) -> np.ndarray:
        """One forward per weight vector, the model's own parameters pointed at each in turn (restored
        after): functional_call's swapping cost ~0.2 ms a point, a third of a digits MLP's forward."""
        chunk = chunk_size(self.model)  # examples per forward pass: memory-bounded for big networks
        parameters = list(self.model.parameters())
        saved = [p.data for p in parameters]
        losses = []
        try:
            for flat in weights:
                for parameter, piece in zip(parameters, torch.split(flat, self.sizes)):
                    parameter.data = piece.view_as(parameter)
                prediction = torch.cat([self.model(self.x[s:s + chunk], *(m[s:s + chunk] for m in self.more_x))
                                        for s in range(0, len(self.x), chunk)])
                losses.append(compute_loss(self.loss_fn, self.loss, prediction, self.t))
        finally:
            for parameter, data in zip(parameters, saved):
                parameter.data = data
        return torch.stack(losses).double().cpu().numpy() if losses else np.zeros(0)


def evaluation_probe(setup, examples: int = EXAMPLES, split: str = "train", batched: bool = True) -> LossProbe:
    """A probe of `setup`'s model and loss on the first `examples` of one split (train by default)."""
    data = setup.splits[split]
    if len(data) == 0:
        raise ValueError(f"the {split} split is empty: choose another split for the landscape")
    return LossProbe(setup.model, data.x[:examples], data.t[:examples], setup.loss_fn, setup.loss, batched,
                     more_x=tuple(m[:examples] for m in data.more_x))


def flat_weights(model: nn.Module) -> torch.Tensor:
    """All parameters as one flat float32 CPU vector, in the trainer's snapshot order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).float().cpu()


def filter_normalised_direction(model: nn.Module, generator: torch.Generator) -> torch.Tensor:
    """A random flat direction, each filter scaled to its weights' norm; 1-D parameters zeroed.

    A filter is one slice along the first axis: an output unit of Dense, an output channel of a
    convolution. Biases and normalisation scales are 1-D and stay put (Li et al.'s choice).
    """
    parts = []
    for weight in model.parameters():
        weight = weight.detach().float().cpu()
        if weight.dim() <= 1:
            parts.append(torch.zeros(weight.numel()))
            continue
        direction = torch.randn(weight.shape, generator=generator)
        scale = weight.flatten(1).norm(dim=1) / direction.flatten(1).norm(dim=1).clamp_min(1e-12)
        parts.append((direction * scale.view(-1, *[1] * (weight.dim() - 1))).reshape(-1))
    return torch.cat(parts) if parts else torch.zeros(0)


def random_directions(model: nn.Module, seed: int = 0) -> torch.Tensor:
    """Two filter-normalised random directions (2, D), the same for the same seed and weights."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([filter_normalised_direction(model, generator) for _ in range(2)])


def random_plane_surfaces(probe: LossProbe, seed: int = 0, span: float = 1.0,
                          resolutions: Sequence[int] = RESOLUTIONS, report: Report | None = None,
                          known: LossSurface | None = None, budget: float | None = None) -> Iterator[LossSurface]:
    """Li et al.'s view: the loss around the probe's model weights on a filter-normalised random plane."""
    directions = random_directions(probe.model, seed)
    yield from progressive_surface(probe, flat_weights(probe.model), directions, (-span, span), (-span, span),
                                   resolutions, report, known, budget)


def interpolation(probe: LossProbe, start: torch.Tensor, end: torch.Tensor,
                  alphas: Sequence[float] | None = None) -> Interpolation:
    """Goodfellow et al.'s 1-D view: the loss from `start` (alpha 0) to `end` (alpha 1) and beyond."""
    alphas = np.linspace(-0.5, 1.5, 81) if alphas is None else np.asarray(alphas, dtype=np.float64)
    start, end = torch.as_tensor(start).float(), torch.as_tensor(end).float()
    loss = probe.combination(start, (end - start)[None], alphas[:, None])
    return Interpolation(alphas, loss, probe.examples)
