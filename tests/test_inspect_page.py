"""The Inspect page driven with AppTest: the linear surface without a job, a trained LeNet, an autoencoder."""

import base64
import json
import re
import time
from pathlib import Path

import numpy as np

import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS
from dlbuilder.training.job import ThreadRunner
from dlbuilder.ui import background, inspect_landscape, jobs, session

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def finished_job(preset: str, epochs: int = 2):
    """A short training run of `preset`, finished (in this process: no worker start-up)."""
    document = PRESETS[preset].load()
    document.training.update(epochs=epochs, device="cpu")
    job = ThreadRunner().submit(document)
    assert job.wait(120), "the job did not finish"
    assert job.status == "finished", job.snapshot().message
    return job


def inspect_page(job=None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.switch_page("pages/inspect.py")
    if job is not None:
        app.session_state[session.DOCUMENT] = job.document
        app.session_state[jobs.JOB] = job
    return app.run()


def settled(app: AppTest) -> AppTest:
    """Wait for the page's background tasks (landscape grids, grown images), then run it again."""
    tasks = app.session_state[background.TASKS] if background.TASKS in app.session_state else {}
    for _, task in tasks.values():
        assert task.wait(120), f"{task.label} did not finish"
    return app.run()


def charts(app: AppTest) -> dict[str, dict]:
    """Each Plotly chart's figure (as JSON) by its widget key's end."""
    found = {}
    for chart in app.get("plotly_chart"):
        key = chart.proto.id.rsplit("-", 1)[-1] if chart.proto.id else ""
        found[key] = json.loads(chart.proto.spec)
    return found


def values(array) -> np.ndarray:
    """A figure's array as sent to the browser: a list, or Plotly's base64 {"bdata", "dtype"}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def tab_labels(app: AppTest) -> list[str]:
    return [tab.label for tab in app.tabs]


@pytest.fixture(scope="module")
def lenet_job():
    return finished_job("lenet")


def test_without_a_job_the_linear_surface_works(monkeypatch):
    app = inspect_page()
    assert not app.exception
    assert any("Train" in info.value for info in app.info)
    assert tab_labels(app) == ["Error surface (linear model)"]
    assert len(app.get("plotly_chart")) == 2  # contour and 3-D surface
    right = app.slider(key="dlb_surface_step_right_False")
    assert right.max == right.value == 100 and not app.warning  # converges: all 100 steps
    app.radio(key="dlb_surface_preset").set_value("too large").run()
    assert not app.exception
    large = app.slider(key="dlb_surface_step_too large_False")
    assert large.max < 100  # the path diverges and stops early
    assert any("diverged at step" in warning.value for warning in app.warning)
    large.set_value(0).run()  # replaying from the start: not diverged yet
    assert not app.warning and len(app.get("plotly_chart")) == 2
    app.checkbox(key="dlb_surface_race").check().run()
    assert not app.exception and len(app.get("plotly_chart")) == 2


def test_a_trained_lenet_shows_its_convolutions_weights_and_passes_the_gradient_check(lenet_job):
    app = settled(inspect_page(lenet_job))
    assert not app.exception, app.exception
    assert tab_labels(app) == ["Error surface (linear model)", "Loss landscape", "Convolution",
                               "Weights & gradients"]
    assert any("Bottleneck" in caption.value for caption in app.caption)  # says why it is left out
    before = len(app.get("plotly_chart"))
    # surface (2), landscape (plane 2, path, line), filters, feature maps, saliency, adversarial,
    # histograms, norms, dead units
    assert before == 13
    app.selectbox(key="dlb_inspect_filter_node").set_value("conv2").run()
    assert not app.exception and app.number_input(key="dlb_inspect_filter_channel_conv2").max > 0
    app.number_input(key="dlb_inspect_image").set_value(3).run()
    app.slider(key="dlb_inspect_max_steps").set_value(10).run()
    app = settled(app.button(key="dlb_inspect_maximise").click().run())  # grown in the background
    assert not app.exception and len(app.get("plotly_chart")) == before + 1  # the grown images
    app.button(key="dlb_inspect_gradcheck").click().run()
    assert not app.exception
    assert any(message.value.startswith("Pass") for message in app.success)
    assert len(app.get("plotly_chart")) == before + 2 and len(app.dataframe) == 1
    app.selectbox(key="dlb_inspect_ridge").set_value("conv2").run()
    assert not app.exception and "dlb_inspect_ridge_figure" in charts(app)
    app.slider(key="dlb_inspect_epsilon").set_value(0.3).run()
    assert not app.exception and not app.error
    title = charts(app)["dlb_inspect_adversarial"]["layout"]["title"]["text"]
    smallest = re.search(r"smallest flipping ε = ([0-9.e-]+)", title)
    flipped = any("prediction flipped" in caption.value for caption in app.caption)
    assert flipped == (smallest is not None and float(smallest.group(1)) <= 0.3), title


def test_the_landscape_is_coarse_first_then_refined_in_the_background(lenet_job):
    app = inspect_page(lenet_job)
    first = charts(app)["dlb_inspect_plane_contour"]["data"][0]
    assert len(values(first["x"])) in (11, 21, 41)  # coarse at once; the thread may already be further
    assert values(first["x"])[0] == -1 and values(first["x"])[-1] == 1  # one filter norm either side
    app = settled(app)
    assert not app.exception
    figures = charts(app)
    fine = figures["dlb_inspect_plane_contour"]["data"][0]
    assert len(values(fine["x"])) == 41 and "41 × 41" in figures["dlb_inspect_plane_contour"]["layout"]["title"]["text"]
    assert any(trace.get("name") == "this run" for trace in figures["dlb_inspect_path"]["data"])  # the PCA path
    tasks = app.session_state[background.TASKS]
    assert tasks["plane"][1].status == "done" and tasks["path_surface"][1].status == "done"
    app.run()  # finished tasks are remembered: nothing is scored again
    assert app.session_state[background.TASKS]["plane"][1] is tasks["plane"][1]


def test_a_cancelled_refinement_keeps_its_coarse_grid_and_can_start_again(lenet_job):
    app = inspect_page(lenet_job)
    task = app.session_state[background.TASKS]["plane"][1]
    task.cancel()
    assert task.wait(60)
    app.run()
    assert not app.exception and "dlb_inspect_plane_contour" in charts(app)
    if task.status == "cancelled":  # (it may have finished before the cancel arrived)
        assert any("Cancelled" in caption.value for caption in app.caption)
        app.button(key="dlb_inspect_refine_plane").click().run()
        assert app.session_state[background.TASKS]["plane"][1] is not task
        app = settled(app)
        assert len(values(charts(app)["dlb_inspect_plane_contour"]["data"][0]["x"])) == 41


def test_use_the_latest_weights_reloads_the_copy(lenet_job):
    app = inspect_page(lenet_job)
    first = app.session_state["state.inspect_setup"][1]
    app.button(key="dlb_inspect_refresh").click().run()
    assert not app.exception and app.session_state["state.inspect_setup"][1] == first + 1


def test_a_running_job_is_inspected_without_pausing_it():
    document = PRESETS["playground"].load()
    document.training.update(epochs=100_000, device="cpu")
    job = ThreadRunner().submit(document)
    try:
        deadline = time.monotonic() + 120
        while job.snapshot().epoch < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        app = settled(inspect_page(job))
        assert not app.exception and not app.error
        assert "dlb_inspect_path" in charts(app) and "dlb_inspect_histograms" in charts(app)
        app.button(key="dlb_inspect_refresh").click().run()
        assert not app.exception and job.status == "running"  # the probes use their own copy
    finally:
        job.stop()
        job.wait(5)


def test_an_autoencoder_shows_its_bottleneck():
    app = settled(inspect_page(finished_job("autoencoder")))
    assert not app.exception, app.exception
    assert tab_labels(app) == ["Error surface (linear model)", "Loss landscape", "Weights & gradients",
                               "Bottleneck"]
    assert any("Convolution" in caption.value for caption in app.caption)
    # surface (2), landscape (4), histograms, norms, dead units, code scatter, code grid, reconstructions
    assert len(app.get("plotly_chart")) == 12


@pytest.mark.parametrize("preset", [name for name, preset in PRESETS.items() if preset.load().data is not None])
def test_every_preset_renders_every_view_and_passes_the_gradient_check(preset, monkeypatch):
    monkeypatch.setattr(inspect_landscape, "REFINE_SECONDS", 2)  # the views, not the refinement (seq2seq: ~1 min)
    app = settled(inspect_page(finished_job(preset, epochs=1)))
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "Loss landscape" in tab_labels(app) and "dlb_inspect_path" in charts(app)  # epochs 0 and 1
    app.button(key="dlb_inspect_gradcheck").click().run()
    assert not app.exception and any(message.value.startswith("Pass") for message in app.success)
