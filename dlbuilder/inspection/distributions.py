"""Per-layer histograms of weights, activations and gradients on a fixed batch, dead ReLU units,
per-layer gradient norms, and a bounded recorder that keeps one histogram set per epoch.

Every histogram spans a power-of-two range ([-R, R], or [0, R] when no value is negative):
two histograms of one layer then always sit on bins that nest, so a recorder can put all
epochs of a layer on one shared set of edges (the widest range seen) exactly, without
keeping the values. Probes run in eval mode (dropout off, batch norm on its running
statistics: the same batch always gives the same answer) and put the model's mode back;
gradients come from `torch.autograd.grad`, so the model's own `.grad` stays untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlbuilder.probes import eval_mode
from dlbuilder.training.losses import LOSSES, compute_loss

BINS = 64
MIN_RANGE = 2.0 ** -40  # range of an all-zero histogram: any later range replaces it
KINDS = ("weights", "activations", "gradients")


@dataclass(frozen=True)
class Batch:
    """A fixed batch and how to score it: the model's inputs, loss targets, a `LOSSES` name."""

    inputs: tuple[torch.Tensor, ...]
    targets: torch.Tensor
    loss: str


def fixed_batch(setup, size: int = 256, seed: int = 0, split: str = "train") -> Batch:
    """`size` examples of one split of a training `Setup`, drawn with `seed` (the same every call)."""
    part = setup.splits[split]
    if len(part) == 0:
        raise ValueError(f"the {split} split is empty: pick another split or use more examples")
    rows = torch.randperm(len(part), generator=torch.Generator().manual_seed(seed))[:size]
    rows = rows.to(part.x.device)
    return Batch(tuple(tensor[rows] for tensor in part.inputs), part.t[rows], setup.loss)  # every input, same rows


def batch_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The mean loss of `model` on `batch` (with its autograd graph)."""
    return compute_loss(LOSSES[batch.loss].build(), batch.loss, model(*batch.inputs), batch.targets)


# -- histograms ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Counts of values in `bins` equal bins between edges[0] and edges[-1]; NaN/Inf counted apart."""

    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray  # (bins,) int64
    nonfinite: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def power_range(largest: float) -> float:
    """The smallest power of two at least `largest` (MIN_RANGE for 0)."""
    if not largest > 0:
        return MIN_RANGE
    return max(MIN_RANGE, 2.0 ** math.ceil(math.log2(largest)))


def range_edges(high: float, signed: bool, bins: int = BINS) -> np.ndarray:
    """Bin edges over [-high, high] (signed) or [0, high]."""
    return np.linspace(-high if signed else 0.0, high, bins + 1)


def histogram(values: torch.Tensor, bins: int = BINS) -> Histogram:
    """A histogram of all values (any device) on a power-of-two range that holds them."""
    values = values.detach().reshape(-1).double()
    finite = values[torch.isfinite(values)]
    nonfinite = len(values) - len(finite)
    if len(finite) == 0:
        return Histogram(range_edges(MIN_RANGE, False, bins), np.zeros(bins, np.int64), nonfinite)
    low, high = float(finite.min()), float(finite.max())
    edges = range_edges(power_range(max(abs(low), abs(high))), low < 0, bins)
    width = (edges[-1] - edges[0]) / bins
    index = ((finite - edges[0]) / width).floor().clamp(0, bins - 1).long()  # the top edge joins the last bin
    counts = torch.bincount(index, minlength=bins).cpu().numpy().astype(np.int64)
    return Histogram(edges, counts, nonfinite)


def shared_edges(histograms: list[Histogram]) -> np.ndarray:
    """Edges wide enough for every histogram (same bin count): the widest range, signed if any is."""
    bins = len(histograms[0].counts)
    high = max(float(h.edges[-1]) for h in histograms)
    return range_edges(high, any(h.edges[0] < 0 for h in histograms), bins)


def rebin(histogram_: Histogram, edges: np.ndarray) -> np.ndarray:
    """Counts moved onto wider `edges` by bin centre: exact for power-of-two ranges (bins nest)."""
    centres = (histogram_.edges[:-1] + histogram_.edges[1:]) / 2
    width = (edges[-1] - edges[0]) / (len(edges) - 1)
    index = np.clip(np.floor((centres - edges[0]) / width).astype(np.int64), 0, len(edges) - 2)
    return np.bincount(index, weights=histogram_.counts, minlength=len(edges) - 1).astype(np.int64)


# -- probes on a fixed batch ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistogramSet:
    """One moment's histograms, each kind keyed by node id in the network's order."""

    weights: dict[str, Histogram]
    activations: dict[str, Histogram]
    gradients: dict[str, Histogram]


def layer_weights(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Each node's weights: its matrices, filters and embeddings (ndim >= 2), else (norms) all it has.

    Biases are left out where there are weights: a few dozen biases at 0 would draw a spike
    that hides the shape of the weights' distribution.
    """
    chosen = {}
    for name, module in model.named_children():
        params = list(module.parameters())
        if params:
            chosen[name] = [p for p in params if p.dim() >= 2] or params
    return chosen


def _node_outputs(model: nn.Module, batch: Batch, with_grad: bool):
    """(outputs of every non-input node, loss) in eval mode; the mode is put back after."""
    with eval_mode(model), torch.set_grad_enabled(with_grad), model.capture(attention=False) as captured:
        loss = batch_loss(model, batch)
    outputs = captured.outputs  # filled from a set: put back into the network's order
    return {step.node: outputs[step.node] for step in model.steps if outputs[step.node].is_floating_point()}, loss


def _layer_gradients(model: nn.Module, loss: torch.Tensor, params: dict[str, list]) -> dict[str, list]:
    flat = [p for group in params.values() for p in group]
    grads = iter(torch.autograd.grad(loss, flat, allow_unused=True))
    return {name: [g if g is not None else torch.zeros_like(p) for p, g in zip(group, grads)]
            for name, group in params.items()}


def layer_histograms(model: nn.Module, batch: Batch, bins: int = BINS) -> HistogramSet:
    """Histograms of each node's weights, its outputs on `batch`, and the loss's gradient on its weights."""
    outputs, loss = _node_outputs(model, batch, with_grad=True)
    weights = layer_weights(model)
    gradients = _layer_gradients(model, loss, weights)
    flat = lambda tensors: torch.cat([t.detach().reshape(-1) for t in tensors])  # noqa: E731
    return HistogramSet(
        weights={name: histogram(flat(group), bins) for name, group in weights.items()},
        activations={name: histogram(value, bins) for name, value in outputs.items()},
        gradients={name: histogram(flat(group), bins) for name, group in gradients.items()})


def gradient_norms(model: nn.Module, batch: Batch) -> dict[str, float]:
    """L2 norm of the loss's gradient on each node's parameters (biases included), input to output."""
    _, loss = _node_outputs(model, batch, with_grad=True)
    params = {name: list(module.parameters()) for name, module in model.named_children()}
    params = {name: group for name, group in params.items() if group}
    gradients = _layer_gradients(model, loss, params)
    return {name: float(torch.sqrt(sum(g.double().square().sum() for g in group)))
            for name, group in gradients.items()}


@dataclass(frozen=True)
class DeadUnits:
    """Units of one ReLU node that output 0 for every example of the batch."""

    units: int
    dead: int

    @property
    def fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0


def ends_in_relu(module: nn.Module) -> bool:
    """A ReLU node, or a Dense / Conv2d / Output whose activation is ReLU."""
    if isinstance(module, nn.Sequential) and len(module):
        module = module[-1]
    return isinstance(module, nn.ReLU)


def dead_relu_units(model: nn.Module, batch: Batch) -> dict[str, DeadUnits]:
    """Per ReLU node, units never active on `batch`: a feature (vectors, sequences) or a channel (images)."""
    outputs, _ = _node_outputs(model, batch, with_grad=False)
    found = {}
    for name, module in model.named_children():
        if name not in outputs or not ends_in_relu(module):
            continue
        value = outputs[name]  # (B, F), (B, T, F) or (B, C, H, W)
        unit_dim = 1 if value.dim() == 4 else value.dim() - 1
        active = (value != 0).movedim(unit_dim, 0).reshape(value.shape[unit_dim], -1).any(dim=1)
        found[name] = DeadUnits(units=int(active.numel()), dead=int((~active).sum()))
    return found


# -- over epochs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackedHistograms:
    """One layer's histograms of one kind over epochs on shared edges: counts (epochs, bins)."""

    node: str
    kind: str
    epochs: np.ndarray  # (E,)
    edges: np.ndarray  # (bins + 1,)
    counts: np.ndarray  # (E, bins) int64


class HistogramRecorder:
    """Keeps one HistogramSet per recorded epoch; past `max_epochs` it drops every other old one."""

    def __init__(self, max_epochs: int = 64):
        if max_epochs < 2:
            raise ValueError("keep at least 2 epochs: set max_epochs to 2 or more")
        self.max_epochs = max_epochs
        self.epochs: list[int] = []
        self.sets: list[HistogramSet] = []

    def record(self, epoch: int, histograms: HistogramSet) -> None:
        """Add the histograms of `epoch`, thinning the oldest evenly when full (memory stays bounded)."""
        if len(self.epochs) >= self.max_epochs:
            self.epochs, self.sets = self.epochs[::2], self.sets[::2]  # keeps the first, halves the rest
        self.epochs.append(epoch)
        self.sets.append(histograms)

    def nodes(self, kind: str) -> list[str]:
        """Node ids with histograms of `kind`, in the network's order."""
        seen: dict[str, None] = {}
        for item in self.sets:
            seen.update(dict.fromkeys(getattr(item, _kind(kind))))
        return list(seen)

    def stacked(self, kind: str, node: str) -> StackedHistograms:
        """All recorded epochs of one node and kind on shared edges (epochs without it are left out)."""
        pairs = [(e, getattr(s, _kind(kind))[node]) for e, s in zip(self.epochs, self.sets)
                 if node in getattr(s, _kind(kind))]
        if not pairs:
            raise KeyError(f"no {kind} histograms of {node!r} recorded: record an epoch first")
        edges = shared_edges([h for _, h in pairs])
        return StackedHistograms(node, kind, np.array([e for e, _ in pairs]), edges,
                                 np.stack([rebin(h, edges) for _, h in pairs]))


def replay_histograms(model: nn.Module, batch: Batch, snapshots, current_epoch: int, max_epochs: int = 16,
                      progress=None) -> HistogramRecorder:
    """Histograms at up to `max_epochs` of the (epoch, flat weights) snapshots, evenly spread, then at
    the model's own weights (as `current_epoch`), which are put back afterwards.

    `progress(done, total)` is called before each epoch (a background task's cancel point).
    """
    recorder = HistogramRecorder(max_epochs=max_epochs + 1)
    if len(snapshots) > max_epochs:
        snapshots = [snapshots[i] for i in np.linspace(0, len(snapshots) - 1, max_epochs).round().astype(int)]
    current = nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    try:
        for done, (epoch, flat) in enumerate(snapshots):
            if progress is not None:
                progress(done, len(snapshots) + 1)
            nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=current.dtype), model.parameters())
            recorder.record(int(epoch), layer_histograms(model, batch))
    finally:
        nn.utils.vector_to_parameters(current, model.parameters())
    if not recorder.epochs or recorder.epochs[-1] != current_epoch:
        recorder.record(current_epoch, layer_histograms(model, batch))
    return recorder


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind
