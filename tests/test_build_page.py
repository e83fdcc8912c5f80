"""The Build page driven headlessly with AppTest: presets, forms, validation, share links, import."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS
from dlbuilder.share import decode_document, encode_document
from dlbuilder.ui import session

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PLAYGROUND_URL = ("https://playground.tensorflow.org/#activation=relu&batchSize=20&dataset=xor"
                  "&learningRate=0.1&networkShape=5,3&noise=10&percTrainData=70&x=true&y=true&xTimesY=true")


def build_page(query: dict | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.switch_page("pages/build.py")
    return app.run()


def current(app: AppTest):
    return app.session_state[session.DOCUMENT]


def summary(app: AppTest):
    return app.table[0].value


def test_opens_with_the_playground_default_and_shows_shapes():
    app = build_page()
    assert not app.exception
    assert "valid: 4 layers, 25 parameters" in app.success[0].value
    table = summary(app)
    assert list(table.index) == ["input", "dense1", "dense2", "output"]
    assert list(table["output shape"]) == ["(2,)", "(4,)", "(2,)", "(1,)"]
    assert list(table["parameters"]) == [0, 12, 10, 3]


def test_loading_a_preset_replaces_the_network_and_undo_brings_it_back():
    app = build_page()
    app.selectbox(key="dlb_preset").select("lenet").run()
    assert current(app).name == PRESETS["lenet"].document["name"]
    assert summary(app).loc["conv1", "output shape"] == "(6, 8, 8)"
    assert any("Loaded the preset" in s.value for s in app.success)
    app.button(key="dlb_undo").click().run()
    assert current(app).name == PRESETS["playground"].document["name"]


def test_editing_a_parameter_in_the_form_updates_shapes_at_once():
    app = build_page()
    app.session_state[session.SELECTED] = "dense1"
    app.run()
    assert app.subheader[0].value == "dense1 · Dense"
    units = next(w for w in app.number_input if w.label == "units")
    units.set_value(6).run()
    table = summary(app)
    assert table.loc["dense1", "output shape"] == "(6,)"
    assert table.loc["dense1", "parameters"] == 2 * 6 + 6
    assert table.loc["dense2", "parameters"] == 6 * 2 + 2
    assert current(app).node("dense1").params["units"] == 6


def test_a_broken_network_lists_every_problem_naming_its_layer():
    app = build_page()
    app.session_state[session.SELECTED] = "dense2"
    app.run()
    app.multiselect[0].set_value([]).run()  # cut dense1 -> dense2
    errors = " ".join(e.value for e in app.error)
    assert "dense2" in errors and "needs one input but has 0" in errors
    assert "dense1" in errors and "does not lead to the output" in errors
    assert "problem(s) to fix" in errors


def test_adding_a_layer_after_the_selected_one_wires_it_in():
    app = build_page()
    app.session_state[session.SELECTED] = "dense1"
    app.run()
    app.button(key="dlb_add_dropout").click().run()
    document = current(app)
    assert [e.source for e in document.incoming("dropout1")] == ["dense1"]
    assert [e.source for e in document.incoming("dense2")] == ["dropout1"]
    assert app.session_state[session.SELECTED] == "dropout1"
    assert app.success[0].value.startswith("The network is valid: 5 layers")


def test_share_link_round_trip_through_query_params():
    document = PRESETS["residual"].load()
    document.training["learning_rate"] = 0.123
    app = build_page({"g": encode_document(document)})
    assert current(app).to_dict() == document.to_dict()
    assert any("Opened the network from the shared link" in s.value for s in app.success)
    app.session_state[session.SELECTED] = "dense2"
    app.run()
    next(w for w in app.number_input if w.label == "units").set_value(12).run()
    shared = decode_document(app.query_params["g"][0] if isinstance(app.query_params["g"], list)
                             else app.query_params["g"])
    assert shared.node("dense2").params["units"] == 12 and shared.training["learning_rate"] == 0.123


def test_a_tampered_share_link_says_so_and_keeps_working():
    link = encode_document(PRESETS["lenet"].load())
    app = build_page({"g": link[:-12] + "AAAAAAAAAAAA"})
    assert not app.exception
    assert any("damaged" in e.value or "share link" in e.value for e in app.error)
    assert "valid" in app.success[0].value  # the default network is there to work with


@pytest.mark.parametrize("dataset", ["digits", "sine"])
def test_new_network_for_a_dataset_is_valid(dataset):
    app = build_page()
    app.selectbox(key="dlb_dataset_choice").select(dataset).run()
    app.button(key="dlb_fresh").click().run()
    assert current(app).data.name == dataset
    assert app.success[0].value.startswith("The network is valid")


def test_importing_a_playground_url():
    app = build_page()
    app.text_input(key="dlb_playground_url").input(PLAYGROUND_URL).run()
    app.button(key="dlb_playground_import").click().run()
    # 350 training points in batches of 20: imported, with a note that the last batch differs
    assert any("Imported the Playground setup" in w.value and "350" in w.value for w in app.warning)
    document = current(app)
    assert document.data.name == "xor" and document.data.params["x_times_y"] is True
    assert document.training["batch_size"] == 20 and document.training["learning_rate"] == 0.1
    assert [n.params.get("units") for n in document.nodes if n.type == "dense"] == [5, 3]
    assert summary(app).loc["input", "output shape"] == "(3,)"
