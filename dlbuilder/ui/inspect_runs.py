"""The landscape panel's shared plane: this run beside the session's earlier runs of the same network and
companions trained for it with one click (other seeds, or other optimizers from this run's start).

Companions train in a background task (`ui.background`) with progress and a Cancel button; the runs
a student picks are projected on this run's PCA plane, whose loss is scored in another background
task. Finished companions are kept per job, so a cancelled task keeps the runs it completed.
"""

from __future__ import annotations

import copy

import streamlit as st

from dlbuilder.figures.landscape import loss_contour_figure
from dlbuilder.figures.style import SERIES_COLOURS
from dlbuilder.inspection.companions import affordable_epochs, companion_documents, plan_companions, train_companions
from dlbuilder.inspection.run_paths import RunPath, describe, parameter_shapes, run_ends
from dlbuilder.inspection.training_path import path_plane_surfaces, pca_plane
from dlbuilder.training.job import JobHandle
from dlbuilder.tasks import publish_levels
from dlbuilder.training.setup import Setup
from dlbuilder.ui import background, jobs, text
from dlbuilder.ui.inspect_panels import PRESSED, clicked, remembered

COMPANIONS = "state.inspect_companions"  # (job id, {variant: [RunPath]}): companions finished for the job
REQUEST = "state.inspect_companion_request"  # the arguments of the last companion task started
OFFERED = "state.inspect_runs_offered"  # run labels offered before: a new one is picked as it arrives
TRAINING, SURFACE = "companions", "runs_surface"  # background slots
SEEDS = 3
LEVELS = (11, 21)  # the shared plane's grid, coarse first
PICK = "dlb_inspect_runs"  # the picker's key stem: `pick_key()` is the key of its current copy
COPY = "state.inspect_runs_copy"  # the number of that copy: a new one each time the page changes the pick
MOST_PICKED = len(SERIES_COLOURS) - 1  # one colour each, this run included
BUTTONS = {"seeds": "dlb_inspect_more_seeds", "optimizers": "dlb_inspect_race"}  # variant -> button key


def runs_panel(job: JobHandle, version: int, setup: Setup, probe, snapshots) -> None:
    """Pick runs to share this run's PCA plane, train companions for it, and draw every path on it."""
    st.markdown("**Several runs on one plane**: other seeds, or other optimizers from this run's start, "
                "projected on the plane of this run's path.")
    own = RunPath(f"this run: {describe(job.document)}", tuple(snapshots), parameter_shapes(setup.model))
    _companion_buttons(job, setup, own)
    kinds = {run.label: "earlier" for run in jobs.earlier_runs(own.shapes)}
    candidates = {run.label: run for run in jobs.earlier_runs(own.shapes)}
    for variant, runs in _kept(job).items():
        kinds.update((run.label, variant) for run in runs)
        candidates.update((run.label, run) for run in runs)
    if not candidates:
        st.caption("No other run of this network yet: train companions above, or train this network again "
                   "(Train page) and come back; the session keeps your last 3 runs.")
        return
    chosen = _pick(list(candidates))
    if chosen:
        _shared_plane(version, probe, own, [candidates[label] for label in chosen])
        _caption({kinds[label] for label in chosen})


# -- companions --------------------------------------------------------------------------------------------


def _companion_buttons(job: JobHandle, setup: Setup, own: RunPath) -> None:
    epochs = int(own.snapshots[-1][0])  # as far as this run has come
    request = st.session_state.get(REQUEST)
    request = request if request is not None and request[0] == job.id else None
    # read the presses before drawing the buttons, so that they are drawn disabled while the task runs
    pressed = [variant for variant, key in BUTTONS.items() if st.session_state.pop(PRESSED + key, False)]
    if pressed:
        try:
            request = _start(job, setup, pressed[0], epochs)
        except ValueError as error:  # over the budget: the message says what to shrink
            text.show("error", str(error))
    busy = request is not None and background.running(TRAINING, request)
    left, right = st.columns(2)
    with left:
        clicked(f"Train {SEEDS} more seeds", BUTTONS["seeds"], disabled=busy,
                help=f"Train this network {SEEDS} more times on the same data from other random weights "
                     f"(seeds {job.document.seed + 1} to {job.document.seed + SEEDS}), for this run's epochs "
                     "or as many as fit in about a minute of CPU. You can cancel.")
    with right:
        clicked("Race optimizers from this start", BUTTONS["optimizers"], disabled=busy,
                help="Train from exactly this run's initial weights and batches with SGD, SGD + momentum, "
                     "RMSprop and Adam (your own optimizer is this run), each with a learning rate that suits "
                     "it, for this run's epochs or as many as fit in about a minute of CPU.")
    if request is not None:
        _collect(job, request)
        shorter = f" (this run has {epochs}: about a minute of CPU allows no more)" if request[2] < epochs else ""
        st.caption(f"Companions train for {request[2]} epochs each{shorter}, on this run's data, one CPU thread.")
        background.follow(TRAINING, request, _finished_so_far)


def _start(job: JobHandle, setup: Setup, variant: str, epochs: int) -> tuple:
    """Start the companions' background task, capped to the epochs the budget affords; its arguments."""
    document = copy.deepcopy(job.document)  # the thread's own copy: the Build page may edit the session's
    bundle = setup.bundle
    runs = len(companion_documents(document, variant, SEEDS))
    capped = min(epochs, affordable_epochs(document, bundle, runs))
    plan = plan_companions(document, variant, max(capped, 1), SEEDS, bundle)  # a ValueError says what to shrink
    request = (job.id, variant, plan.epochs)
    st.session_state[REQUEST] = request
    title = f"Training {SEEDS} more seeds" if variant == "seeds" else "Racing optimizers from this start"
    background.start(TRAINING, request, lambda reporter: train_companions(
        document, variant, plan.epochs, SEEDS, bundle, reporter), title)
    return request


def _collect(job: JobHandle, request: tuple) -> None:
    """Keep what the companion task has finished (all of it, or the runs done before a cancel)."""
    found = background.task(TRAINING, request)
    if found is None or not found.partial:
        return
    kept = _kept(job)
    kept[request[1]] = list(found.partial)


def _kept(job: JobHandle) -> dict:
    stored = st.session_state.get(COMPANIONS)
    if stored is None or stored[0] != job.id:
        stored = (job.id, {})
        st.session_state[COMPANIONS] = stored
    return stored[1]


def _finished_so_far(paths) -> None:
    notes = [f"{path.label} ({path.note})" if path.note else path.label for path in paths]
    st.caption(text.plain("Finished: " + ", ".join(notes)))


# -- the shared plane -----------------------------------------------------------------------------------------


def pick_key(state=None) -> str:
    """The key of the picker's current copy (in `state`, this session's state by default)."""
    state = st.session_state if state is None else state
    return f"{PICK}_{state[COPY] if COPY in state else 0}"


def _pick(labels: list[str]) -> list[str]:
    """The multiselect of runs beside this one; runs that arrived since the last visit start picked.

    When the page changes the pick it draws a new copy of the box (a new key) holding the new pick:
    setting the old copy's value would lose a race with a poll already on its way from the browser,
    which carries the old copy's value and puts it back.
    """
    offered = st.session_state.get(OFFERED, set())
    fresh = [label for label in labels if label not in offered]
    picked = st.session_state.get(pick_key(), [])
    if fresh or any(label not in labels for label in picked):
        st.session_state[COPY] = st.session_state.get(COPY, 0) + 1
        st.session_state[pick_key()] = ([label for label in picked if label in labels] + fresh)[:MOST_PICKED]
    st.session_state[OFFERED] = offered | set(labels)
    return st.multiselect("Runs on the plane beside this one", labels, key=pick_key(), max_selections=MOST_PICKED,
                          help="Your earlier runs of this same network (same layers and sizes) in this session, and "
                               "the companions trained above. Each is projected on this run's PCA plane.")


def _shared_plane(version: int, probe, own: RunPath, others: list[RunPath]) -> None:
    runs = [own, *others]
    arguments = (version, tuple((run.label, int(run.snapshots[-1][0])) for run in runs))
    snapshots = [list(run.snapshots) for run in runs]
    plane = remembered("runs_plane", arguments, lambda: pca_plane(snapshots, [run.label for run in runs]))
    ends = remembered("runs_ends", arguments, lambda: run_ends(plane, snapshots, probe))
    if background.task(SURFACE, arguments) is None:
        twin = probe.copy()  # the page keeps using `probe` while the thread scores the copy
        background.start(SURFACE, arguments, lambda reporter: publish_levels(
            lambda report: path_plane_surfaces(twin, plane, resolutions=LEVELS, report=report), reporter),
                         "The loss around the runs")
    first, second = plane.explained
    titles = (f"this run's PCA direction 1 ({first:.0%})", f"PCA direction 2 ({second:.0%})")

    def draw(surface):
        st.plotly_chart(loss_contour_figure(surface, plane.paths, axis_titles=titles, mark_centre=False,
                                            title="Runs on one plane (start o, end *)"),
                        key="dlb_inspect_runs_plane")
    background.follow(SURFACE, arguments, draw)
    st.dataframe([{"run": end.label, "loss at its end": end.loss, "distance travelled": end.travelled,
                   "end's distance from this run's end": end.apart, "off this plane": end.off_plane}
                  for end in ends], hide_index=True,
                 column_config={"loss at its end": st.column_config.NumberColumn(format="%.4f"),
                                "distance travelled": st.column_config.NumberColumn(format="%.3g"),
                                "end's distance from this run's end": st.column_config.NumberColumn(format="%.3g"),
                                "off this plane": st.column_config.NumberColumn(format="percent")})


def _caption(kinds: set[str]) -> None:
    """What to look for, by the kinds of runs on the plane ("seeds", "optimizers", "earlier")."""
    lines = []
    if "seeds" in kinds:
        lines.append("Different seeds start in different places (o) and end in different places (*): different "
                     "starts reach different minima. Where ends sit in separate dark hollows with brighter ground "
                     "between them, the runs settled in different basins, often with about the same loss (table).")
    if "optimizers" in kinds:
        lines.append("Optimizers from one start share the first point and then take different routes: momentum "
                     "keeps going and swings past the valley floor, RMSprop and Adam scale each weight's step, "
                     "plain SGD follows the slope.")
    if "earlier" in kinds:
        lines.append("Earlier runs: whatever you changed (seed, optimizer, learning rate) shows as another route "
                     "and another end.")
    lines.append("The plane is this run's: the other runs are projected onto it, so their points can look closer "
                 "than they are, and the shading is the loss on the plane, not along their paths. "
                 "\"Off this plane\" says how much of each end's distance the plane cannot show.")
    st.caption(" ".join(lines))
