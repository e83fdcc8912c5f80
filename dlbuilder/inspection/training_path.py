"""The training path on a loss landscape (Li et al. 2018, section 7): the PCA plane of a run's
weight snapshots, centred on its final weights, with that run and others projected on it.

Snapshots are `MetricsStream.snapshots()` pairs (epoch, flat weights); the trainer keeps them for
networks up to 100k parameters, and a process job's handle receives them from its worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dlbuilder.inspection.grid import RESOLUTIONS, LossSurface, Report, progressive_surface
from dlbuilder.inspection.landscape import LossProbe


@dataclass(frozen=True)
class TrainingPath:
    """One run's snapshots projected on a plane: coordinates[k] = (alpha, beta) at epochs[k]."""

    label: str
    epochs: np.ndarray  # (k,)
    coordinates: np.ndarray  # (k, 2)
    loss: np.ndarray  # (k,) the loss at the projected points (on the plane, as its surface shows)


@dataclass(frozen=True)
class PathPlane:
    """The plane of the first run's top-2 PCA directions, centred on its final weights."""

    center: torch.Tensor  # (D,)
    directions: torch.Tensor  # (2, D), orthonormal
    explained: tuple[float, float]  # share of the path's variance along each direction
    paths: tuple[TrainingPath, ...]

    def extent(self, margin: float = 0.25) -> tuple[tuple[float, float], tuple[float, float]]:
        """(alpha_range, beta_range) around every path and the centre, widened by `margin` of the span."""
        points = np.concatenate([path.coordinates for path in self.paths] + [np.zeros((1, 2))])
        low, high = points.min(axis=0), points.max(axis=0)
        pad = np.maximum((high - low) * margin, 1e-3)
        return (float(low[0] - pad[0]), float(high[0] + pad[0])), (float(low[1] - pad[1]), float(high[1] + pad[1]))


def _stack(snapshots: Sequence) -> tuple[np.ndarray, torch.Tensor]:
    """Epochs and a (k, D) matrix from `MetricsStream.snapshots()`-style (epoch, flat) pairs."""
    if not snapshots:
        raise ValueError("this run has no weight snapshots: train for an epoch (networks up to 100k parameters)")
    epochs = np.array([epoch for epoch, _ in snapshots])
    return epochs, torch.stack([torch.as_tensor(flat).float().cpu().reshape(-1) for _, flat in snapshots])


def _principal_directions(offsets: torch.Tensor, seed: int) -> tuple[torch.Tensor, tuple[float, float]]:
    """Top-2 PCA directions of `offsets` (k, D), completed with seeded random ones when the path is too short."""
    centred = offsets - offsets.mean(dim=0)  # (k, D)
    # PCA through the small (k, k) Gram matrix: an SVD of (200, 100k) took 7 s on one thread, this 0.7 s
    variances, mixes = torch.linalg.eigh((centred @ centred.T).double())
    variances, mixes = variances.flip(0).clamp_min(0), mixes.flip(1)  # largest first
    total = float(variances.sum())
    keep = [i for i in range(min(2, len(variances))) if variances[i] > 1e-12 * max(float(variances[0]), 1e-30)]
    basis = [centred.double().T @ mixes[:, i] / variances[i].sqrt() for i in keep]
    explained = [float(variances[i]) / total for i in keep]
    generator = torch.Generator().manual_seed(seed)
    while len(basis) < 2:  # fewer than 3 distinct snapshots: any orthogonal direction will do
        candidate = torch.randn(offsets.shape[1], generator=generator, dtype=torch.float64)
        for vector in basis:
            candidate -= (candidate @ vector) * vector
        basis.append(candidate / candidate.norm())
        explained.append(0.0)
    return torch.stack(basis).float(), (explained[0], explained[1])


def pca_plane(runs: Sequence[Sequence], labels: Sequence[str] | None = None, probe: LossProbe | None = None,
              seed: int = 0) -> PathPlane:
    """Project runs of (epoch, flat weights) snapshots on the PCA plane of the first run (Li et al. 2018).

    The plane is centred on the first run's last snapshot, so that run ends at (0, 0); the
    other runs (other seeds, other optimizers) are projected on the same plane. With a probe,
    each path point also gets the loss at its projection (where it sits on the surface).
    """
    stacked = [_stack(run) for run in runs]
    if not stacked:
        raise ValueError("no runs to project: give at least one list of snapshots")
    center = stacked[0][1][-1]
    directions, explained = _principal_directions(stacked[0][1] - center, seed)
    labels = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(stacked))]
    paths = []
    for label, (epochs, matrix) in zip(labels, stacked):
        coordinates = ((matrix - center).double() @ directions.double().T).numpy()
        loss = (probe.combination(center, directions, coordinates) if probe is not None
                else np.full(len(epochs), np.nan))
        paths.append(TrainingPath(label, epochs, coordinates, loss))
    return PathPlane(center, directions, explained, tuple(paths))


def path_plane_surfaces(probe: LossProbe, plane: PathPlane, margin: float = 0.25,
                        resolutions: Sequence[int] = RESOLUTIONS, report: Report | None = None,
                        budget: float | None = None) -> Iterator[LossSurface]:
    """The loss over the PCA plane around the paths, coarse grid first (see `progressive_surface`)."""
    alpha_range, beta_range = plane.extent(margin)
    yield from progressive_surface(probe, plane.center, plane.directions, alpha_range, beta_range, resolutions,
                                   report, budget=budget)
