"""Weight paths of several runs of one network, for a shared PCA plane (`training_path.pca_plane`):
the session's earlier runs, companions trained for the plane (`companions.py`), and where each run
ends compared with the plane's own run.

A path is the trainer's snapshots, (epoch, flat float32 weights) from epoch 0; runs share a plane
only when their networks have the same parameter shapes (the architecture key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dlbuilder.compile import compile_graph
from dlbuilder.document import Document
from dlbuilder.training.optim import OPTIMIZERS

SNAPSHOT_VALUES = 4_000_000  # weight values kept per run (16 MB): long paths of big nets are thinned
MAX_SNAPSHOTS = 200  # as many as the trainer's metrics stream keeps


@dataclass(frozen=True)
class RunPath:
    """One run's weight path for a shared plane: (epoch, flat weights) snapshots from epoch 0."""

    label: str
    snapshots: tuple  # ((epoch, flat float32 tensor), ...)
    shapes: tuple  # parameter shapes in model order: only runs with equal shapes share a plane
    note: str = ""  # e.g. "diverged in epoch 7"


@dataclass(frozen=True)
class RunEnd:
    """Where a run ended, measured in the full weight space (not only on the plane)."""

    label: str
    loss: float  # at its final weights themselves, on the probe's examples
    travelled: float  # |final - initial weights|
    apart: float  # |final - the plane run's final weights|
    off_plane: float  # share of `apart` that the plane cannot show (0: the end lies on the plane)


def parameter_shapes(model: torch.nn.Module) -> tuple:
    """The architecture key: every parameter's shape, in the order of the flat snapshots."""
    return tuple(tuple(parameter.shape) for parameter in model.parameters())


def document_shapes(document: Document) -> tuple:
    """`parameter_shapes` of the document's network, built on the meta device (no memory, no init)."""
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the global seed alone
        try:
            with torch.device("meta"):
                return parameter_shapes(compile_graph(document))
        except (RuntimeError, NotImplementedError):  # a layer that needs real values to build (none yet)
            return parameter_shapes(compile_graph(document))


def describe(document: Document) -> str:
    """Plain text naming a run's seed, optimizer and learning rate: "seed 7, Adam, lr 0.005"."""
    settings = document.training
    title = OPTIMIZERS[settings["optimizer"]].title
    return f"seed {document.seed}, {title}, lr {settings['learning_rate']:.3g}"


def thin(snapshots: Sequence, limit: int) -> tuple:
    """At most `limit` (>= 2) snapshots, evenly spread, always keeping the first and the last."""
    snapshots = tuple(snapshots)
    if len(snapshots) <= limit:
        return snapshots
    step = (len(snapshots) - 1) / (limit - 1)
    return tuple(snapshots[round(i * step)] for i in range(limit))


def snapshot_limit(parameters: int) -> int:
    """How many snapshots of a network this size a run keeps (`SNAPSHOT_VALUES` in all, 2 to 200)."""
    return max(2, min(MAX_SNAPSHOTS, SNAPSHOT_VALUES // max(parameters, 1)))


def bounded_path(label: str, snapshots: Sequence, shapes: tuple, note: str = "") -> RunPath:
    """A RunPath holding at most `snapshot_limit` snapshots (a session keeps several)."""
    parameters = int(torch.as_tensor(snapshots[0][1]).numel()) if snapshots else 1
    return RunPath(label, thin(snapshots, snapshot_limit(parameters)), shapes, note)


def earlier_run(number: int, document: Document, snapshots: Sequence) -> RunPath:
    """A finished (or stopped) job's path, kept by the session for later planes: "run 2: seed 0, SGD, lr 0.03"."""
    return bounded_path(f"run {number}: {describe(document)}", snapshots, document_shapes(document))


def run_ends(plane, runs: Sequence[Sequence], probe=None) -> list[RunEnd]:
    """For each run of `plane` (its snapshots in `runs`, the same order): its loss, how far it travelled,
    how far its end lies from the plane run's end, and how much of that the plane hides."""
    center = plane.center.double()
    directions = plane.directions.double()  # (2, D), orthonormal
    finals = torch.stack([torch.as_tensor(run[-1][1]).double().reshape(-1) for run in runs])  # (R, D)
    firsts = torch.stack([torch.as_tensor(run[0][1]).double().reshape(-1) for run in runs])
    offsets = finals - center
    hidden = offsets - (offsets @ directions.T) @ directions  # what the plane's projection drops
    apart = offsets.norm(dim=1)
    off = torch.where(apart > 0, hidden.norm(dim=1) / apart.clamp_min(1e-30), torch.zeros_like(apart))
    losses = probe(finals.float()) if probe is not None else np.full(len(runs), np.nan)
    travelled = (finals - firsts).norm(dim=1)
    return [RunEnd(path.label, float(loss), float(t), float(a), float(o))
            for path, loss, t, a, o in zip(plane.paths, losses, travelled, apart, off)]
