"""The Experiments page's sweep form: where a sweep starts from (the session's network or one of the
lectures' experiments), one or two settings and their values, grid or random search, epochs per run,
and Start, which runs the sweep as a background task (`ui.background`) with progress and Cancel.

The sweep's separate runs are jobs of the server's one runner (`ui.jobs`), so they count against its
job cap; its vectorised groups train in the task's thread. Leaving the page cancels the task within
`tasks.HEARTBEAT_TIMEOUT`, and the task stops its jobs as it ends.
"""

from __future__ import annotations

import copy
import hashlib

import streamlit as st

from dlbuilder.experiments import AXES, LECTURE_SWEEPS, SweepAxis, SweepSpec, plan_sweep, run_sweep
from dlbuilder.experiments.axes import format_value, split_values
from dlbuilder.experiments.plan import BudgetError, SweepPlan
from dlbuilder.experiments.spec import MAX_EPOCHS, MAX_RUNS, SEARCHES, SweepError
from dlbuilder.tasks import Reporter
from dlbuilder.ui import background, guard, jobs, session, text

SLOT = "sweep"  # the background slot
SWEEP = "state.sweep"  # (sweep number, SweepPlan) of the sweep started last
PLANS = "state.sweep_plans"  # the last plan computed for the form: (form key, plan or error text)
SOURCE = "dlb_sweep_source"  # "current" or a LECTURE_SWEEPS name (a lesson or ?sweep= may set it)
CURRENT = "current"
NONE = "(none)"
PRESSED = "state.sweep_pressed"  # Start was pressed: start at this run's end of the form
LINK_KEY = "sweep"
MAX_TYPED = 400  # characters of one setting's values  # ?sweep=<lecture sweep name> opens the page with that sweep chosen


def started() -> tuple[int, SweepPlan] | None:
    """(number, plan) of the session's last sweep, or None."""
    return st.session_state.get(SWEEP)


def choose_lecture_sweep(name: str) -> None:
    """Pick a lecture sweep in the form (for a lesson step that opens this page; call before the page runs)."""
    if name not in LECTURE_SWEEPS:
        raise KeyError(f"unknown lecture sweep {name!r}: choose one of {', '.join(LECTURE_SWEEPS)}")
    st.session_state[SOURCE] = name


def source_from_link() -> None:
    """`?sweep=hidden_layers` (say) picks that lecture sweep the first time the page runs."""
    name = st.query_params.get(LINK_KEY)
    if name in LECTURE_SWEEPS and SOURCE not in st.session_state:
        st.session_state[SOURCE] = name


def sweep_form() -> None:
    """The form; Start plans the sweep and starts it in the background (errors say what to change)."""
    options = [CURRENT, *LECTURE_SWEEPS]
    source = st.selectbox("Start from", options, key=SOURCE, format_func=_source_title,
                          help="Your network: the session's current document (Build and Train pages) is the base "
                               "every run changes. A lecture experiment brings its own network, data and values.")
    base, lecture = _base(source)
    if lecture is not None:
        text.show("info", f"{lecture.doc} Ask the class: {lecture.question}")
    spec = _axes_form(source, base, lecture.build() if lecture is not None else None)
    plan = _plan(spec)
    if isinstance(plan, str):
        text.show("error", plan)
    else:
        st.caption(plan.describe())  # (no user text in it)
    # The press is kept by a callback (it survives the page's first-visit rerun) and acted on here, with the
    # plan of this run's values: a callback's arguments would be the values drawn before the last edit.
    if st.session_state.pop(PRESSED, False) and not isinstance(plan, str) and not _busy():
        _start(plan)
    st.button("▶ Start the sweep", key="dlb_sweep_start", type="primary", disabled=isinstance(plan, str) or _busy(),
              on_click=_press, help="Train every run in the background: the table, heat map and curves below "
              "fill in as runs finish. Cancel stops every run of the sweep.")


def _busy() -> bool:
    return started() is not None and background.running(SLOT, (started()[0],))


def _source_title(name: str) -> str:
    if name == CURRENT:
        return "Your network (the current document)"  # fixed: a changing label would reset the choice
    return f"Lecture: {LECTURE_SWEEPS[name].title}"


def _base(source: str):
    if source == CURRENT:
        return session.document(), None
    return None, LECTURE_SWEEPS[source]


def _axes_form(source: str, base, lecture: SweepSpec | None) -> SweepSpec:
    """Widgets for the axes, search and epochs, keyed per source so a lecture's values stay its own."""
    base = lecture.base if lecture is not None else base
    defaults = list(lecture.axes) if lecture is not None else [SweepAxis("learning_rate", ()), SweepAxis("width", ())]
    axes = []
    for number, column in enumerate(st.columns(2), start=1):
        with column:
            chosen = _axis_widgets(number, source, defaults[number - 1] if number <= len(defaults) else None)
        if chosen is not None:
            axes.append(chosen)
    left, middle, right = st.columns(3)
    search = left.radio("Search", SEARCHES, horizontal=True, key=f"dlb_sweep_search_{source}",
                        help="grid: every combination of the values; random: a number of random draws.")
    count = middle.number_input("Random runs", 1, MAX_RUNS, 16, key=f"dlb_sweep_count_{source}",
                                disabled=search != "random", help="How many runs a random search draws.")
    epochs = right.number_input("Epochs per run", 1, MAX_EPOCHS, min(MAX_EPOCHS, int(base.training["epochs"])),
                                key=f"dlb_sweep_epochs_{source}", help="Every run trains this many epochs (early "
                                "stopping, if the network uses it, may end a run sooner).")
    return SweepSpec(copy.deepcopy(base), tuple(axes), search=search, count=int(count), epochs=int(epochs))


def _axis_widgets(number: int, source: str, default: SweepAxis | None) -> SweepAxis | None:
    """Setting `number`'s choice and its typed values (None: no second setting)."""
    choices = list(AXES) if number == 1 else [NONE, *AXES]
    name = st.selectbox(f"Setting {number}", choices, index=choices.index(default.name) if default else 0,
                        key=f"dlb_sweep_axis{number}_{source}", format_func=lambda n: n if n == NONE else AXES[n].title,
                        help="What the runs vary. Depth, width, hidden layer widths, dropout and batch norm edit the "
                             "hidden Dense layers, so they need a plain chain of Dense layers.")
    if name == NONE:
        return None
    spec = AXES[name]
    separators = "commas (hidden layer widths: with ;)" if spec.kind == "widths" else "commas"
    values = st.text_input(f"Values of {spec.title}", value=_default_text(name, default), max_chars=MAX_TYPED,
                           key=f"dlb_sweep_values{number}_{name}_{source}",
                           help=f"{spec.doc} Separate values with {separators}, e.g. {spec.example}. A random search "
                                "draws between the smallest and largest value (choices: among those given).")
    return SweepAxis(name, tuple(split_values(spec, values)))


def _default_text(name: str, default: SweepAxis | None) -> str:
    if default is not None and default.name == name and default.values:
        separator = "; " if AXES[name].kind == "widths" else ", "
        return separator.join(format_value(AXES[name], value) for value in default.values)
    return AXES[name].example


def _plan(spec: SweepSpec) -> SweepPlan | str:
    """The plan for the form's values (kept while they do not change), or the reason it cannot run."""
    key = hashlib.sha256(repr((spec.base.to_json(None), spec.axes, spec.search, spec.count, spec.epochs))
                         .encode()).hexdigest()
    kept = st.session_state.get(PLANS)
    if kept is not None and kept[0] == key:
        return kept[1]
    try:
        plan: SweepPlan | str = plan_sweep(spec)
    except (SweepError, BudgetError) as error:
        plan = str(error)
    except Exception as error:  # noqa: BLE001 (a broken network must not stop the page)
        plan = guard.explain(error, "Check the network on the Build page.")
    st.session_state[PLANS] = (key, plan)
    return plan


def _press() -> None:
    st.session_state[PRESSED] = True


def _start(plan: SweepPlan) -> None:
    number = (started()[0] if started() else 0) + 1
    runner = jobs.session_runner()  # (read here, in the page's script run: the task's thread has no session)

    def work(reporter: Reporter):
        return run_sweep(plan, runner=runner, reporter=reporter)

    st.session_state[SWEEP] = (number, plan)
    background.start(SLOT, (number,), work, f"Sweep {number}")
