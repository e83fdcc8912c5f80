"""The Experiments page driven with AppTest: a small sweep starts in the background, its table and heat map
appear, two runs are compared, a lecture sweep is picked from a link, bad values say what to change."""

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS
from dlbuilder.training.job import ThreadRunner
from dlbuilder.ui import background, experiments, jobs, session
from tests.test_inspect_page import charts, settled, values

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def experiments_page(epochs: int = 3) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.switch_page("pages/experiments.py")
    document = PRESETS["playground"].load()
    document.training["epochs"] = epochs
    app.session_state[session.DOCUMENT] = document
    return app.run()


def set_axes(app: AppTest, first: tuple[str, str], second: tuple[str, str] | None) -> AppTest:
    app.selectbox(key="dlb_sweep_axis1_current").set_value(first[0]).run()
    app.text_input(key=f"dlb_sweep_values1_{first[0]}_current").set_value(first[1]).run()
    axis2 = app.selectbox(key="dlb_sweep_axis2_current")
    axis2.set_value(second[0] if second else "(none)").run()
    if second:
        app.text_input(key=f"dlb_sweep_values2_{second[0]}_current").set_value(second[1]).run()
    return app


def shown(element) -> str:
    """An element's text as the student reads it (Markdown escapes and word joiners removed)."""
    return element.value.replace("\\", "").replace("\u2060", "")


def table_rows(app: AppTest) -> list[dict]:
    frame = next(df for df in app.dataframe if "run" in df.value.columns)
    return frame.value.to_dict("records")


def test_a_two_setting_sweep_fills_the_table_and_the_heat_map():
    app = set_axes(experiments_page(), ("learning_rate", "0.01, 0.1"), ("width", "2, 4"))
    assert not app.exception and not app.error
    assert "4 runs of 3 epochs: 4 trained together in 2 vectorised groups" in shown(app.caption[0])
    app.button(key="dlb_sweep_start").click().run()
    app = settled(app)
    assert not app.exception
    rows = table_rows(app)
    assert [(r["learning rate"], r["units per hidden layer (width)"], r["status"]) for r in rows] == [
        (0.01, 2, "finished"), (0.01, 4, "finished"), (0.1, 2, "finished"), (0.1, 4, "finished")]
    assert all(np.isfinite(r["validation loss"]) for r in rows)
    figure = charts(app)["dlb_sweep_map"]
    heat = figure["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == ["0.01", "0.1"] and heat["y"] == ["2", "4"]
    z = np.array(heat["z"], dtype=float)
    assert z.shape == (2, 2) and np.isfinite(z).all()
    # cell (width 4, lr 0.1) is run 4's final validation loss
    assert z[1, 1] == rows[3]["validation loss"]
    assert {"dlb_sweep_overlay", "dlb_sweep_compare"} <= set(charts(app))


def test_two_runs_compared_show_their_curves_and_settings_differences():
    app = set_axes(experiments_page(2), ("learning_rate", "0.03, 0.3"), None)
    app.button(key="dlb_sweep_start").click().run()
    app = settled(app)
    app.selectbox(key="dlb_sweep_first").set_value(1).run()
    app.selectbox(key="dlb_sweep_second").set_value(2).run()
    compare = charts(app)["dlb_sweep_compare"]
    names = [trace["name"] for trace in compare["data"]]
    assert names == ["lr 0.03: validation loss", "lr 0.03: training loss",
                     "lr 0.3: validation loss", "lr 0.3: training loss"]
    assert all(len(values(trace["y"])) == 2 for trace in compare["data"])
    differences = next(df for df in app.dataframe if "setting" in df.value.columns).value.to_dict("records")
    assert differences == [{"setting": "training: learning_rate", "first run": "0.03", "second run": "0.3"}]
    # one axis: no heat map
    assert "dlb_sweep_map" not in charts(app)


def test_the_train_job_can_be_compared_with_a_sweep_run():
    app = set_axes(experiments_page(2), ("seed", "5"), None)
    document = app.session_state[session.DOCUMENT]
    job = ThreadRunner().submit(document)
    assert job.wait(60)
    app.session_state[jobs.JOB] = job
    app.button(key="dlb_sweep_start").click().run()
    app = settled(app)
    app.selectbox(key="dlb_sweep_first").set_value(0).run()
    app.selectbox(key="dlb_sweep_second").set_value(1).run()
    differences = next(df for df in app.dataframe if "setting" in df.value.columns).value.to_dict("records")
    assert differences == [{"setting": "seed", "first run": "0", "second run": "5"}]
    assert len(charts(app)["dlb_sweep_compare"]["data"]) == 4


def test_bad_values_and_an_unsuited_network_say_what_to_change():
    app = set_axes(experiments_page(), ("learning_rate", "0.01, fast"), None)
    assert "learning rate: 'fast' must be a number from 1e-06 to 10" in shown(app.error[0])
    assert app.button(key="dlb_sweep_start").disabled
    app.session_state[session.DOCUMENT] = PRESETS["lenet"].load()
    app = set_axes(app.run(), ("width", "8, 16"), None)
    assert "does not fit a plain chain" in shown(app.error[0])


def test_a_lecture_sweep_opens_from_its_link_with_its_values():
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["sweep"] = "hidden_layers"
    app.switch_page("pages/experiments.py")
    app.run()
    assert not app.exception
    assert app.selectbox(key=experiments.SOURCE).value == "hidden_layers"
    assert app.selectbox(key="dlb_sweep_axis1_hidden_layers").value == "depth"
    assert app.text_input(key="dlb_sweep_values1_depth_hidden_layers").value == "1, 2, 3, 4"
    assert "Ask the class" in app.info[0].value
    assert "4 runs of 40 epochs" in shown(app.caption[0])
    assert background.TASKS not in app.session_state or not app.session_state[background.TASKS]
    json.dumps(app.session_state[session.DOCUMENT].to_dict())  # the session's own network is untouched
