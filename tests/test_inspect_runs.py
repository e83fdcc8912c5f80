"""Several runs on one landscape plane, driven with AppTest: companions trained in the background
(other seeds, the optimizer race) and the session's earlier runs of the same network."""

import time
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from dlbuilder.inspection import companions
from dlbuilder.inspection.run_paths import RunPath, document_shapes
from dlbuilder.presets import PRESETS
from dlbuilder.ui import background, inspect_runs, jobs, session
from tests.test_inspect_page import charts, finished_job, inspect_page, settled
from tests.test_train_page import train_page  # noqa: F401  (the Train page with its job cleaned up)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
THIS_RUN = "this run: seed 0, SGD, lr 0.03"
SEEDS = ["seed 1", "seed 2", "seed 3"]
RACE = ["SGD + momentum, lr 0.03", "RMSprop, lr 0.003", "Adam, lr 0.003"]



def pick_box(app: AppTest):
    """The runs picker as drawn now (the page draws a new copy each time it changes the pick)."""
    return app.multiselect(key=inspect_runs.pick_key(app.session_state))

def paths_on_plane(app: AppTest) -> list[str]:
    """The names of the paths drawn on the shared plane (each path: a line and its marked ends)."""
    return [trace["name"] for trace in charts(app)["dlb_inspect_runs_plane"]["data"]
            if trace.get("type") == "scatter" and not trace["name"].endswith(" ends")]


def trained(app: AppTest, button: str) -> AppTest:
    """Click a companion button and wait for its background task, then for the plane's loss."""
    app.button(key=button).click().run()
    assert not app.exception, app.exception
    task = app.session_state[background.TASKS][inspect_runs.TRAINING][1]
    assert task.wait(120) and task.status == "done", task.error
    return settled(app.run())


def test_companions_train_in_the_background_and_share_the_plane():
    app = settled(inspect_page(finished_job("playground", epochs=20)))
    assert not app.exception, app.exception
    assert any("No other run of this network yet" in caption.value for caption in app.caption)
    assert "dlb_inspect_runs_plane" not in charts(app)
    for key in ("dlb_inspect_more_seeds", "dlb_inspect_race"):
        assert app.button(key=key).help  # every control says what it does

    app = trained(app, "dlb_inspect_more_seeds")
    picker = pick_box(app)
    assert picker.options == SEEDS and picker.value == SEEDS and picker.help  # new runs arrive picked
    assert paths_on_plane(app) == [THIS_RUN, *SEEDS]
    assert any("Companions train for 20 epochs each" in caption.value for caption in app.caption)
    assert any("different starts reach different minima" in caption.value for caption in app.caption)
    table = app.dataframe[0].value
    assert list(table["run"]) == [THIS_RUN, *SEEDS]
    apart = table["end's distance from this run's end"]
    assert apart.iloc[0] == 0 and (apart.iloc[1:] > 0).all()

    app = trained(app, "dlb_inspect_race")
    picker = pick_box(app)
    assert picker.options == SEEDS + RACE and picker.value == SEEDS + RACE
    assert paths_on_plane(app) == [THIS_RUN, *SEEDS, *RACE]
    assert any("take different routes" in caption.value for caption in app.caption)

    picker.set_value(RACE).run()  # only the race: the seeds leave the plane
    app = settled(app)
    assert not app.exception and paths_on_plane(app) == [THIS_RUN, *RACE]
    assert not any("different starts reach" in caption.value for caption in app.caption)


def test_a_cancelled_companion_task_can_be_started_again():
    app = settled(inspect_page(finished_job("playground", epochs=20)))
    app.button(key="dlb_inspect_more_seeds").click().run()
    task = app.session_state[background.TASKS][inspect_runs.TRAINING][1]
    assert app.button(key="dlb_inspect_more_seeds").disabled or not task.active  # no second start meanwhile
    task.cancel()
    assert task.wait(60) and task.status in ("cancelled", "done")
    app.run()
    assert not app.exception and not app.button(key="dlb_inspect_more_seeds").disabled
    assert pick_box(trained(app, "dlb_inspect_more_seeds")).options == SEEDS


def reached(app: AppTest, epochs: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while app.session_state[jobs.JOB].snapshot().epoch < epochs:
        assert time.monotonic() < deadline, "the job did not reach its epochs"
        time.sleep(0.05)


def test_the_session_keeps_its_last_three_runs_for_the_plane(train_page):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000
    app = train_page
    app.session_state[session.DOCUMENT] = document
    app.run()
    app.button(key="dlb_start").click().run()
    for noise in (5, 10, 15, 20):  # each change retrains: the replaced run is kept
        reached(app, 2)
        next(s for s in app.slider if s.label == "noise").set_value(noise).run()
        assert not app.exception, app.exception
    kept = app.session_state[jobs.EARLIER]
    assert [run.label for run in kept] == [f"run {n}: seed 0, SGD, lr 0.03" for n in (4, 3, 2)]
    assert all(run.shapes == document_shapes(document) and len(run.snapshots) >= 3 for run in kept)
    assert app.session_state[jobs.RUN_NUMBER] == 5
    lenet = PRESETS["lenet"].load()  # another network: never offered for this plane
    other = RunPath("run 0: lenet", ((0, torch.zeros(3350)), (1, torch.ones(3350))), document_shapes(lenet))
    app.session_state[jobs.EARLIER] = [*kept, other]
    reached(app, 2)
    app.switch_page("pages/inspect.py").run()
    assert not app.exception, app.exception
    assert pick_box(app).options == [run.label for run in kept]


def test_companions_over_the_budget_are_refused_with_what_to_shrink(monkeypatch):
    monkeypatch.setattr(companions, "SECONDS_PER_WORK", 1.0)  # the cost model: a second per example
    app = settled(inspect_page(finished_job("playground", epochs=2)))
    app.button(key="dlb_inspect_more_seeds").click().run()
    assert not app.exception, app.exception
    assert any("even one epoch of 3 runs is too much" in error.value for error in app.error)
    assert inspect_runs.TRAINING not in app.session_state[background.TASKS]  # nothing started
    assert not app.button(key="dlb_inspect_more_seeds").disabled
