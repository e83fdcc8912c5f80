"""The Inspect page's loss-landscape panel: Li et al.'s random plane around the current weights, the
training path on the PCA plane of the job's snapshots, and the line from initial to final weights.

A coarse grid is drawn at once (memoised per weights: 11 x 11, or 6 x 6 for a network slow to score);
the finer levels are scored by a background task (`ui.background`) on a copy of the probe's model,
each drawn in place as it arrives, with progress and a Cancel button, as far as REFINE_SECONDS of one
CPU thread allow; a button refines the rest, its time estimated. The probes work on `inspect_panels`'
copy of the job's model.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dlbuilder.figures.landscape import interpolation_figure, loss_contour_figure, loss_surface_figure
from dlbuilder.inspection.grid import NESTED_SIZES, LossSurface, affordable_sizes
from dlbuilder.inspection.landscape import evaluation_probe, flat_weights, interpolation, random_plane_surfaces
from dlbuilder.inspection.training_path import path_plane_surfaces, pca_plane
from dlbuilder.training.cost import describe_seconds, env_int
from dlbuilder.training.job import JobHandle
from dlbuilder.training.setup import Setup
from dlbuilder.tasks import publish_levels
from dlbuilder.ui import background, inspect_runs, text
from dlbuilder.ui.inspect_panels import clicked, panel, remembered

ADVICE = "Press \"Use the latest weights\", or train again."
COARSE_SECONDS = 1.5  # the grid drawn at once: 11 x 11 when one loss evaluation x 121 fits in this, else 6 x 6
FINEST = NESTED_SIZES[-1]  # the refinement in the background, level by level (the sizes nest in each other)
# seconds of one CPU thread a page's refinement may take unasked (seq2seq: 41 x 41 would take about a minute)
REFINE_SECONDS = env_int("DLBUILDER_LANDSCAPE_SECONDS", 20, 1, 3600)
PATH_LEVELS = (11, 21)  # the PCA plane's grid, coarse first


def landscape_panel(job: JobHandle, version: int, setup: Setup) -> None:
    """Random-plane surface and contour, the PCA path, and the initial-to-final interpolation."""
    probe = remembered("landscape_probe", (version,), lambda: evaluation_probe(setup))
    st.caption(f"The loss on {probe.examples} training examples (fixed), in eval mode, without L1/L2 "
               "penalties. The centre of each plane is the current weights.")
    with panel(ADVICE):
        _random_plane(version, probe)
    st.divider()
    snapshots = remembered("landscape_snapshots", (version,), job.metrics.snapshots)
    if len(snapshots) < 2:
        st.caption("The training path needs weights from at least two epochs (networks up to 100k parameters "
                   "keep them): train for more epochs on the Train page.")
        return
    with panel(ADVICE):
        _training_path(version, probe, snapshots)
    with panel(ADVICE):
        inspect_runs.runs_panel(job, version, setup, probe, snapshots)
    with panel(ADVICE):
        curve = remembered("landscape_line", (version,), lambda: interpolation(
            probe, snapshots[0][1], flat_weights(setup.model), np.linspace(-0.5, 1.5, _line_points(probe))))
        st.plotly_chart(interpolation_figure(curve, title="From the initial to the current weights"),
                        key="dlb_inspect_interpolation")
        st.caption("Goodfellow et al. 2015: the loss along the straight line between the two weight vectors. "
                   "A smooth, monotonic dip means no barrier stood between the start and the end.")


def _random_plane(version: int, probe) -> None:
    st.markdown("**Around the current weights** (Li et al. 2018): two random directions, each filter scaled "
                "to its weights' norm, biases left still.")
    coarse = remembered("plane_coarse", (version,), lambda: _coarse_surface(probe))
    arguments = (version,)
    found = background.task("plane", arguments)
    latest = found.partial if found is not None and found.partial is not None else coarse
    if found is None and affordable_sizes(NESTED_SIZES, len(coarse.alphas), coarse.point_seconds, REFINE_SECONDS):
        found = _refine(probe, coarse, arguments, REFINE_SECONDS)
    elif (found is None or not found.active) and len(latest.alphas) < FINEST:
        rest = (FINEST ** 2 - latest.loss.size) * latest.point_seconds
        if found is None or found.status == "done":
            st.caption(f"Refined as far as {len(latest.alphas)} × {len(latest.alphas)}: {FINEST} × {FINEST} "
                       f"would take {describe_seconds(rest)} of one CPU thread on this server.")
        if clicked(f"Refine to {FINEST} × {FINEST}", "dlb_inspect_refine_plane",
                   help=f"Score the finer grids in the background ({describe_seconds(rest)}); you can cancel."):
            found = _refine(probe, latest, arguments, None)

    def draw(surface):
        left, right = st.columns(2)
        size = f"{len(surface.alphas)} × {len(surface.betas)}"
        left.plotly_chart(loss_contour_figure(surface, title=f"Loss from above ({size})"),
                          key="dlb_inspect_plane_contour")
        right.plotly_chart(loss_surface_figure(surface, title="Loss in 3-D"), key="dlb_inspect_plane_3d")
    background.follow("plane", arguments, draw, initial=coarse)


def _line_points(probe) -> int:
    """81 points along the line from the initial weights; 41 or 21 where those would take over COARSE_SECONDS."""
    seconds = probe.point_seconds()
    return next((n for n in (81, 41) if n * seconds <= COARSE_SECONDS), 21)


def _coarse_surface(probe) -> LossSurface:
    """The grid drawn at once: 11 x 11, or 6 x 6 where 121 loss evaluations would take over COARSE_SECONDS."""
    size = 11 if 121 * probe.point_seconds() <= COARSE_SECONDS else 6
    return list(random_plane_surfaces(probe, resolutions=(size,)))[-1]


def _refine(probe, known: LossSurface, arguments: tuple, budget: float | None):
    """Score the plane's finer levels in the background (on a copy of the model), within `budget` seconds."""
    twin = probe.copy()  # the page keeps drawing with `probe` while the thread scores the copy
    levels = tuple(n for n in NESTED_SIZES if n > len(known.alphas))
    return background.start("plane", arguments, lambda reporter: publish_levels(
        lambda report: random_plane_surfaces(twin, resolutions=levels, report=report, known=known, budget=budget),
        reporter), f"Refining to {FINEST} × {FINEST}" if budget is None
        else f"Refining towards {FINEST} × {FINEST}")


def _training_path(version: int, probe, snapshots) -> None:
    st.markdown("**The path training took**: the weights after each epoch, projected on the two directions "
                "along which they moved most (PCA), with the loss over that plane.")
    plane = remembered("landscape_plane", (version,), lambda: pca_plane([snapshots], ["this run"], probe=probe))
    first, second = plane.explained
    titles = (f"PCA direction 1 ({first:.0%} of the movement)", f"PCA direction 2 ({second:.0%})")
    arguments = (version,)
    if background.task("path_surface", arguments) is None:
        twin = probe.copy()
        background.start("path_surface", arguments, lambda reporter: publish_levels(
            lambda report: path_plane_surfaces(twin, plane, resolutions=PATH_LEVELS, report=report,
                                               budget=REFINE_SECONDS), reporter),
            "The loss around the path")

    def draw(surface):
        st.plotly_chart(loss_contour_figure(surface, plane.paths, axis_titles=titles, mark_centre=False,
                                            title="Training path (start o, end *)"),
                        key="dlb_inspect_path")
    background.follow("path_surface", arguments, draw)
    if first + second < 0.5:
        text.show("info", "These two directions hold under half of the path's movement: the path bends through "
                          "more dimensions than a plane can show.")
