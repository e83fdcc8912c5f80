"""The Experiments page's results: the sortable table, the heat map over two settings, every run's curve
with one highlighted, and "compare any two runs" (the sweep's, or the session's Train job).

`draw(outcome)` is what `background.follow` calls twice a second while the sweep runs, and once more
with the final outcome; the table fills in as runs finish.
"""

from __future__ import annotations

import streamlit as st

from dlbuilder.experiments import AXES, SweepOutcome, results_table
from dlbuilder.experiments.compare import settings_differences
from dlbuilder.experiments.results import MEASURES, RunResult, grid_of, measure_value
from dlbuilder.figures.experiments import comparison_figure, overlay_figure, sweep_map_figure, sweep_scatter_figure
from dlbuilder.ui import jobs, session, text

TRAIN_JOB = 0  # the comparison's index for the session's Train job (sweep runs count from 1)
OPENED = "state.sweep_opened"  # a run the student asked to open on the Train page
HIGHLIGHT = "dlb_sweep_highlight"
HIGHLIGHTED = "state.sweep_highlighted"  # (plan, n): the n-th finished sweep of the session, its best run highlighted


def draw(outcome: SweepOutcome) -> None:
    """Everything about one sweep: what it is, the table, the heat map, the curves and a comparison."""
    results = outcome.results
    st.caption(f"This sweep: {outcome.plan.describe()}")  # (no user text in it)
    with st.container(key="dlb_sweep_table"):
        st.dataframe(results_table(results), hide_index=True, width="stretch",
                     height=min(35 * (len(results) + 1) + 3, 600))  # rows of 35 px and the header
    for result in results:
        if result.status in ("diverged", "error"):
            text.show("warning", f"Run {result.index} ({result.label}): {result.message}")
    names = [axis.name for axis in outcome.plan.spec.axes]
    if len(names) == 2:
        _map(outcome, *names)
    _curves(results, outcome.plan, outcome.complete)
    _compare(results)


def _map(outcome: SweepOutcome, x_name: str, y_name: str) -> None:
    st.subheader("Two settings at a glance")
    held = next((r.held_out for r in outcome.results if r.held_out), None) or "held-out"
    measure = MEASURES[st.selectbox("Colour by", list(MEASURES), key="dlb_sweep_measure",
                                    format_func=lambda name: MEASURES[name].title,
                                    help="Held-out: the validation split, or the test split when the data has no "
                                         "validation split. Bright cells are the better runs.")]
    x_title, y_title = AXES[x_name].title, AXES[y_name].title
    if outcome.plan.spec.search == "grid":
        x, y, z = grid_of(outcome.results, x_name, y_name, measure)
        figure = sweep_map_figure(x, y, z, measure, x_title, y_title, held_out=held)
    else:
        results = outcome.results
        figure = sweep_scatter_figure([_plotted(x_name, r) for r in results], [_plotted(y_name, r) for r in results],
                                      [measure_value(r, measure) for r in results], [r.label for r in results],
                                      measure, x_title, y_title, log_x=AXES[x_name].log, log_y=AXES[y_name].log,
                                      held_out=held)
    st.plotly_chart(figure, key="dlb_sweep_map", config={"displayModeBar": False})


def _plotted(name: str, result: RunResult):
    value = result.values[name]
    return value if AXES[name].kind in ("int", "float") else str(value)


def _curves(results: tuple[RunResult, ...], plan, complete: bool) -> None:
    st.subheader("Every run's curve")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Highlight", [r.index for r in results], key=_highlight_key(plan, complete),
                            index=_best(results) if complete else 0,
                            format_func=lambda index: _label(results, index),
                            help="This run is drawn in colour (its training loss dashed); the others in grey.")
    log_scale = right.toggle("Log-scale loss", value=True, key="dlb_sweep_log",
                             help="Losses that differ 100-fold stay readable on a log scale.")
    st.plotly_chart(overlay_figure(results, chosen, log_scale), key="dlb_sweep_overlay",
                    config={"displayModeBar": False})
    if chosen:
        st.button("Open this run on the Train page", key="dlb_sweep_open", on_click=_open, args=(results[chosen - 1],),
                  help="Load the highlighted run's network and settings as your document (undo on the Build page "
                       "brings yours back), then go to Train.")
    if st.session_state.pop(OPENED, False):
        st.switch_page("pages/train.py")


def _highlight_key(plan, complete: bool) -> str:
    """The Highlight box's key: one while the sweep runs, then a fresh one per finished sweep, which opens on
    the best run. (Setting the old box's value instead loses a race: a poll already on its way from the
    browser carries the box's old value and puts it back.)"""
    if not complete:
        return HIGHLIGHT
    finished = st.session_state.get(HIGHLIGHTED)
    if finished is None or finished[0] is not plan:
        finished = (plan, finished[1] + 1 if finished else 1)
        st.session_state[HIGHLIGHTED] = finished
    return f"{HIGHLIGHT}_{finished[1]}"


def _open(run: RunResult) -> None:
    session.commit(run.document)
    session.notify("success", f"Opened run {run.index} of the sweep ({run.label}).")
    st.session_state[OPENED] = True


def _best(results: tuple[RunResult, ...]) -> int:
    """The position of the run with the lowest final held-out loss (the first run before any has one)."""
    scored = [(value, position) for position, r in enumerate(results)
              if (value := measure_value(r, MEASURES["held_out_loss"])) is not None]
    return min(scored)[1] if scored else 0


def _label(results: tuple[RunResult, ...], index: int) -> str:
    result = next(r for r in results if r.index == index)
    return f"run {index}: {result.label} ({result.status})"


def _compare(results: tuple[RunResult, ...]) -> None:
    st.subheader("Compare two runs")
    candidates = {r.index: r for r in results}
    job = _train_job()
    if job is not None:
        candidates[TRAIN_JOB] = job
    options = list(candidates)
    first_column, second_column = st.columns(2)
    first = first_column.selectbox("First run", options, index=0, key="dlb_sweep_first",
                                   format_func=lambda i: _compare_label(candidates[i]),
                                   help="Any run of this sweep, or your latest run on the Train page.")
    second = second_column.selectbox("Second run", options, index=min(1, len(options) - 1), key="dlb_sweep_second",
                                     format_func=lambda i: _compare_label(candidates[i]),
                                     help="Its curves are drawn in red, the first run's in blue.")
    a, b = candidates[first], candidates[second]
    if not a.epochs or not b.epochs:
        st.caption("Both runs need a finished epoch before their curves can be compared.")
    else:
        st.plotly_chart(comparison_figure(a, b), key="dlb_sweep_compare", config={"displayModeBar": False})
    differences = settings_differences(a.document, b.document)
    if differences:
        with st.container(key="dlb_sweep_differences"):
            st.dataframe(differences, hide_index=True, width="stretch")
    else:
        st.caption("The two runs have the same settings.")


def _compare_label(result: RunResult) -> str:
    return result.label if result.index == TRAIN_JOB else f"run {result.index}: {result.label}"


def _train_job() -> RunResult | None:
    """The session's Train job as a run to compare (its document and curves so far)."""
    job = jobs.current()
    if job is None:
        return None
    snapshot = job.snapshot()
    return RunResult(TRAIN_JOB, "your Train run", {}, job.document, 0, snapshot.status, snapshot.message,
                     "Train page", tuple(snapshot.epochs), 0.0, snapshot.info.get("metric"))
