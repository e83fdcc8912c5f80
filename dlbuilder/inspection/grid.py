"""Loss surfaces on grids of a plane, scored coarse to fine: the sizes nest (6, 11, 21, 41 points per
side), each level reuses the points of the coarser ones, and a time budget can end the refinement
early. The probe that scores the points is `landscape.LossProbe` (any object with its `combination`,
`examples` and `method`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

RESOLUTIONS = (11, 21, 41)  # grid points per side, coarse to fine; each level contains the previous
NESTED_SIZES = (6, 11, 21, 41)  # every size nests in the larger ones (6 for slow networks' first picture)
PROGRESS_POINTS = 64  # grid points scored between two progress reports (a whole vmapped batch or more)

Report = Callable[[int, int], object]  # (points done, points in all); may raise to cancel


@dataclass(frozen=True)
class LossSurface:
    """The loss over a grid of a plane: loss[j, i] at center + alphas[i] * d1 + betas[j] * d2."""

    alphas: np.ndarray  # (n,)
    betas: np.ndarray  # (m,)
    loss: np.ndarray  # (m, n)
    examples: int  # size of the evaluation subset
    method: str  # "vmap" (batched), "loop", or "auto" (not chosen yet)
    seconds: float  # since the first level started
    final: bool  # the last level of its computation: nothing more will come
    point_seconds: float = float("nan")  # scoring time per grid point measured so far (nan: none scored)

    def loss_at(self, alpha: float, beta: float) -> float:
        """The loss at the grid point nearest (alpha, beta)."""
        return float(self.loss[np.abs(self.betas - beta).argmin(), np.abs(self.alphas - alpha).argmin()])


def _levels(resolutions: Sequence[int]) -> list[int]:
    finest = resolutions[-1]
    for n in resolutions:
        if n < 2 or (finest - 1) % (n - 1):
            raise ValueError(f"grid of {n} points per side does not nest in {finest}: use sizes like 11, 21, 41")
    return [(finest - 1) // (n - 1) for n in resolutions]


def progressive_surface(probe, center: torch.Tensor, directions: torch.Tensor,
                        alpha_range: tuple[float, float] = (-1.0, 1.0), beta_range: tuple[float, float] = (-1.0, 1.0),
                        resolutions: Sequence[int] = RESOLUTIONS, report: Report | None = None,
                        known: LossSurface | None = None, budget: float | None = None) -> Iterator[LossSurface]:
    """The loss over the plane center + alpha d1 + beta d2, coarse grid first, refined level by level.

    Each level reuses the points already computed (the sizes nest: 11, 21, 41), and those of
    `known`, an earlier surface of the same plane and ranges at a nesting size. `report(done,
    total)` is called every PROGRESS_POINTS points (a background task's cancel point); drop the
    generator to cancel between two levels.

    With a `budget` (seconds), the levels after the first are scored only while the time spent plus
    their estimate (their new points at the rate measured so far) fits; the surface before the first
    one left out comes as the final one (`affordable_sizes` decides about a first level).
    """
    strides = _levels(resolutions)
    finest = resolutions[-1]
    alphas, betas = np.linspace(*alpha_range, finest), np.linspace(*beta_range, finest)
    loss = np.full((finest, finest), np.nan)
    done = np.zeros((finest, finest), dtype=bool)
    if known is not None:
        stride = _levels([len(known.alphas), finest])[0]
        if not (np.allclose(known.alphas, alphas[::stride]) and np.allclose(known.betas, betas[::stride])):
            raise ValueError("the known surface lies on other ranges: compute the plane again")
        loss[::stride, ::stride], done[::stride, ::stride] = known.loss, True
    total = int((~done).sum())  # the last level is the finest grid: every point not known yet
    start, computed = time.perf_counter(), 0
    pending = [(stride, *_new_points(done, stride)) for stride in strides]
    for level, (stride, rows, columns) in enumerate(pending):
        for first in range(0, len(rows), PROGRESS_POINTS):
            if report is not None:
                report(computed, total)
            part_rows, part_columns = rows[first:first + PROGRESS_POINTS], columns[first:first + PROGRESS_POINTS]
            coefficients = np.stack([alphas[part_columns], betas[part_rows]], axis=1)
            loss[part_rows, part_columns] = probe.combination(center, directions, coefficients)
            computed += len(part_rows)
        spent = time.perf_counter() - start
        rate = spent / computed if computed else float("nan")
        following = pending[level + 1][1] if level + 1 < len(pending) else None  # the next level's new rows
        last = following is None or (budget is not None and computed > 0 and spent + len(following) * rate > budget)
        yield LossSurface(alphas[::stride].copy(), betas[::stride].copy(), loss[::stride, ::stride].copy(),
                          probe.examples, probe.method, spent, last, rate)
        if last:
            return


def affordable_sizes(sizes: Sequence[int], have: int, point_seconds: float, budget: float) -> tuple[int, ...]:
    """The leading grid sizes of `sizes` (larger than `have` points per side, nesting) whose new points,
    scored at `point_seconds` each, fit in `budget` seconds all together."""
    chosen, points, spent = [], have * have, 0.0
    for n in (n for n in sizes if n > have):
        spent += (n * n - points) * point_seconds
        if spent > budget:
            break
        chosen.append(n)
        points = n * n
    return tuple(chosen)


def _new_points(done: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the grid points at this stride not scored yet; marks them as planned."""
    todo = np.zeros_like(done)
    todo[::stride, ::stride] = True
    rows, columns = np.nonzero(todo & ~done)
    done |= todo
    return rows, columns
