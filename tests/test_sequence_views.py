"""Sequence views: figure builders on small arrays, then the Inspect page's Sequences tab and the Train
page's live predictions with a small tagger trained on slot filling."""

from pathlib import Path

import re

import numpy as np
import plotly.graph_objects as go
import torch
import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.datasets import DATASETS
from dlbuilder.document import load_document
from dlbuilder.figures.sequence_tables import class_table, tagging_table, translation_table
from dlbuilder.figures.sequences import (MAX_LABELLED, attention_figure, embedding_figure, gradient_steps_figure,
                                         hidden_state_figure, token_text)
from dlbuilder.inspection.sequence_predictions import (example_text, predict_test_sequences, read_typed_text,
                                                       shown_examples)
from dlbuilder.presets import PRESETS
from dlbuilder.training.job import ThreadRunner
from dlbuilder.ui import inspect_panels, jobs, session
from tests.networks import document_dict, wait_for
from tests.test_figures import assert_valid_as_built
from tests.test_inspect_page import charts, inspect_page, tab_labels, values

APP = str(Path(__file__).resolve().parents[1] / "app.py")
HOSTILE = '<img src=x onerror=alert(1)> **bold** [link](http://evil.example)'


def tagger_document(epochs: int = 6, samples: int = 800, attention: bool = True):
    """Words -> Embedding -> BiLSTM -> (masked self-attention) -> one tag per word, on slot filling."""
    info = DATASETS["slot_filling"].describe({})
    steps, vocab = info.input_shape[0], info.vocab_size
    nodes = [{"id": "words", "type": "input", "params": {"shape": [steps], "dtype": "tokens", "vocab_size": vocab}},
             {"id": "embed", "type": "embedding", "params": {"dim": 16}},
             {"id": "lstm", "type": "lstm", "params": {"hidden_size": 16, "bidirectional": True}},
             {"id": "tags", "type": "output", "params": {"task": "classification", "units": 4}}]
    edges = [("words", "embed", 0), ("embed", "lstm", 0)]
    if attention:
        nodes.insert(3, {"id": "attend", "type": "self_attention", "params": {"num_heads": 2}})
        edges += [("lstm", "attend", 0), ("words", "attend", 1), ("attend", "tags", 0)]
    else:
        edges.append(("lstm", "tags", 0))
    return load_document(document_dict(
        nodes, edges, name="tagger", data={"name": "slot_filling", "params": {"num_samples": samples}},
        training={"epochs": epochs, "batch_size": 32, "learning_rate": 0.01, "optimizer": "adam", "device": "cpu"}))


@pytest.fixture(scope="module")
def tagger_job():
    job = ThreadRunner().submit(tagger_document())
    assert job.wait(180), "the job did not finish"
    assert job.status == "finished", job.snapshot().message
    return job


# -- figures ------------------------------------------------------------------------------------------------


def test_token_text_escapes_and_bounds():
    assert token_text("<unk>") == "&lt;unk&gt;"
    assert token_text(" ") == "␣"
    assert token_text("a" * 40) == "a" * 13 + "…"
    assert "\n" not in token_text("two\nlines")


def test_attention_figure_one_panel_per_head_with_padding_cut():
    rng = np.random.default_rng(0)
    weights = rng.random((2, 4, 5))
    weights /= weights.sum(-1, keepdims=True)
    keys = ["<unk>", "on", "on", "<pad>", "<pad>"]
    figure = attention_figure(weights, ["a", "b", "c", "<pad>"], keys, query_padding=[0, 0, 0, 1],
                              key_padding=[0, 0, 0, 1, 1], title="attend: self-attention")
    assert_valid_as_built(figure)
    assert len(figure.data) == 2 and [t.xaxis for t in figure.data] == ["x", "x2"]
    assert np.asarray(figure.data[0].z).shape == (3, 3)  # the padded query and both padded keys are cut
    np.testing.assert_allclose(np.asarray(figure.data[1].z), weights[1, :3, :3], rtol=1e-6)
    # a numeric axis keeps the two "on" apart; tokens are escaped
    assert list(figure.layout.xaxis.ticktext) == ["&lt;unk&gt;", "on", "on"]
    assert figure.layout.coloraxis.cmin == 0 and figure.layout.coloraxis.cmax == 1
    assert [a.text for a in figure.layout.annotations] == ["<b>head 1</b>", "<b>head 2</b>"]
    with pytest.raises(ValueError, match="heads, queries, keys"):
        attention_figure(weights[0])


def test_hidden_state_figure_units_by_steps():
    states = np.linspace(-2, 1, 5 * 6).reshape(5, 6)  # (T, units)
    figure = hidden_state_figure(states, ["leave", "<unk>", "on", "may", "2nd"], "lstm", directions=2)
    assert_valid_as_built(figure)
    heat = figure.data[0]
    assert np.asarray(heat.z).shape == (6, 5)  # units x time steps
    assert heat.zmin == -2 and heat.zmax == 2  # symmetric around 0
    assert list(figure.layout.xaxis.ticktext)[1] == "&lt;unk&gt;"
    assert len(figure.layout.shapes) == 1  # the line between forward and backward units


def test_gradient_steps_figure_log_scale_lines_and_gaps():
    figure = gradient_steps_figure({"rnn (RNN, this run)": [1e-6, 1e-3, 0.0, 1.0],
                                    "lstm (LSTM, run 1)": [0.1, 0.2, 0.3, 0.4]}, dashed=["lstm (LSTM, run 1)"])
    assert_valid_as_built(figure)
    assert figure.layout.yaxis.type == "log"
    first, second = figure.data
    assert np.isnan(first.y[2]) and list(first.x) == [1, 2, 3, 4]
    assert first.line.dash == "solid" and second.line.dash == "dash"


def test_embedding_figure_labels_are_bounded_and_escaped():
    count = MAX_LABELLED + 20
    words = ["<unk>"] + [f"w{i}" for i in range(count - 1)]
    groups = np.arange(count) % 3
    figure = embedding_figure(np.random.default_rng(1).normal(size=(count, 2)), words, [0.5, 0.2], groups,
                              ("other", "destination", "origin"), "embed")
    assert_valid_as_built(figure)
    assert [t.name for t in figure.data] == ["other", "destination", "origin"]
    written = [text for t in figure.data for text in t.text if text]
    assert len(written) == MAX_LABELLED and "&lt;unk&gt;" in written
    assert "50%" in figure.layout.xaxis.title.text
    with pytest.raises(ValueError, match="coordinates"):
        embedding_figure(np.zeros((3, 2)), ["a"])


def matrix(z) -> np.ndarray:
    """A heat map's z as sent to the browser: nested lists, or base64 with a shape."""
    if isinstance(z, dict):
        return values(z).reshape([int(n) for n in str(z["shape"]).split(",")])
    return np.asarray(z, dtype=float)


def cells(figure: go.Figure) -> list[list[str]]:
    return [list(column) for column in figure.data[0].cells.values]


def test_tagging_table_marks_mistakes_and_escapes():
    sentences = [["leave", "taipei", "on", "may", "2nd"], [HOSTILE, "<unk> (lima)"]]
    predicted = [["other", "destination", "other", "time", "time"], ["other", "origin"]]
    true = [["other", "origin", "other", "time", "time"], ["other", "origin"]]
    figure = tagging_table(sentences, predicted, true, hidden_tag="other")
    assert_valid_as_built(figure)
    sentence, tags, marks = cells(figure)
    assert "other" in figure.data[0].header.values[1]  # says which tag is not listed
    assert "taipei</b></span> → <b>destination</b>" in tags[0] and "(true: origin)" in tags[0]
    assert "may 2nd → <b>time</b>" in tags[0] and "leave" not in tags[0]  # right "other" runs left out
    assert "✗" in marks[0] and "✓" in marks[1]
    assert "<img" not in sentence[1] and "&lt;unk&gt; (lima)" in sentence[1]


def test_translation_and_class_tables():
    figure = translation_table(["2 Nov 2021", "<b>x"], ["2021-11-02", "2021-12"], ["2021-11-02", "2021-11-02"])
    assert_valid_as_built(figure)
    source, output, true, marks = cells(figure)
    assert source[1] == "&lt;b&gt;x" and "✓" in marks[0] and "✗" in marks[1]
    assert output[0] == "2021-11-02" and output[1].count("<span") == 2  # "2" wrong, and the missing rest
    figure = class_table(["0110", "111"], ["even", "even"], ["even", "odd"])
    assert_valid_as_built(figure)
    assert "✗" in cells(figure)[3][1] and "even" in cells(figure)[1][1]


# -- the engine on a trained tagger ------------------------------------------------------------------------------


def test_predictions_and_typed_text_of_a_trained_tagger(tagger_job):
    setup = tagger_job.trainer.setup
    model, bundle = setup.model, setup.bundle
    indices = shown_examples(bundle, 6)
    unseen = np.asarray(bundle.extras["test_unseen"])
    assert unseen[indices].any()  # at least one sentence with a city the training set lacks
    found = predict_test_sequences(model, bundle, indices, setup.loss)
    assert found.kind == "tags" and len(found.inputs) == 6
    assert all(len(p) == len(t) == len(w) for p, t, w in zip(found.predicted, found.true, found.inputs))
    row = int(np.flatnonzero(unseen[indices])[0])
    assert any(word.startswith("<unk> (") for word in found.inputs[row])  # what the model read, and the word
    right = np.mean([p == t for row in range(6) for p, t in zip(found.predicted[row], found.true[row])])
    assert right >= 0.8, found
    typed = read_typed_text(model, bundle.info, "Leave Nairobi on Friday!", setup.loss)
    assert typed.tokens == ["leave", "<unk>", "on", "friday"] and typed.unknown == ["nairobi"]
    assert len(typed.predicted) == 4 and typed.predicted[3] == "time"
    with pytest.raises(ValueError, match="at most"):
        read_typed_text(model, bundle.info, "word " * 40, setup.loss)
    with pytest.raises(ValueError, match="invisible character"):
        read_typed_text(model, bundle.info, "leave\u200btaipei", setup.loss)


# -- pages -------------------------------------------------------------------------------------------------------


def test_inspect_shows_the_sequences_tab_and_tags_typed_text(tagger_job):
    app = inspect_page(tagger_job)
    assert not app.exception, app.exception
    assert "Sequences" in tab_labels(app) and "Convolution" not in tab_labels(app)
    found = charts(app)
    for key in ("dlb_seq_predictions", "dlb_seq_attention_0", "dlb_seq_hidden", "dlb_seq_gradients",
                "dlb_seq_embedding", "dlb_seq_typed", "dlb_seq_typed_attention_0"):
        assert key in found, sorted(found)
    attention = found["dlb_seq_attention_0"]
    assert len(attention["data"]) == 2  # two heads
    weights = matrix(attention["data"][0]["z"])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)  # padding cut: real rows still sum to 1
    assert weights.shape[1] == len(attention["layout"]["xaxis"]["ticktext"])
    app.text_input(key="dlb_seq_text").set_value("arrive in Nairobi on may 2nd").run()
    assert not app.exception and not app.error
    typed = charts(app)["dlb_seq_typed"]["data"][0]["cells"]["values"]
    assert "&lt;unk&gt;" in typed[0][0]
    assert any("read as <unk>" in caption.value.replace("\\", "").replace("\u2060", "") for caption in app.caption)
    app.text_input(key="dlb_seq_text").set_value("a " * 30).run()  # more words than the model reads
    assert not app.exception
    assert any("shorten it" in error.value for error in app.error)
    app.text_input(key="dlb_seq_text").set_value(HOSTILE).run()
    assert not app.exception
    app.selectbox(key="dlb_seq_example").set_value(3).run()
    assert not app.exception and "dlb_seq_attention_0" in charts(app)
    app.button(key="dlb_seq_keep").click().run()
    assert not app.exception
    lines = charts(app)["dlb_seq_gradients"]["data"]
    assert len(lines) == 2 and lines[1]["line"]["dash"] == "dash"


def test_train_page_shows_live_predictions_for_a_tagger():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/train.py")
    app.session_state[session.DOCUMENT] = tagger_document(epochs=3, samples=400)
    app.run()
    assert not app.exception
    app.button(key="dlb_start").click().run()
    job = app.session_state[jobs.JOB]
    try:
        assert job.wait(120) and job.status == "finished", job.snapshot().message
        app.run()
        assert not app.exception, app.exception
        table = charts(app)["dlb_sequence_predictions"]
        sentences = table["data"][0]["cells"]["values"][0]
        assert len(sentences) == 4
        assert any("predicted tags" in m.value for m in app.markdown)
    finally:
        job.stop()
        job.wait(5)


def test_inspect_translates_a_typed_date_with_its_attention_map():
    document = PRESETS["seq2seq"].load()
    document.data.params["num_samples"] = 1500
    document.training.update(epochs=3, device="cpu")
    job = ThreadRunner().submit(document)
    assert job.wait(300) and job.status == "finished", job.snapshot().message
    app = inspect_page(job)
    found = charts(app)
    assert not app.exception and "Sequences" in tab_labels(app)
    table = found["dlb_seq_predictions"]["data"][0]["cells"]["values"]
    assert table[0][0] == example_text(job.bundle(), 0) and len(table) == 4  # input, predicted, true, mark
    assert all(len(text) == 10 for text in table[2])  # true dates: 2021-11-02
    attention = found["dlb_seq_attention_0"]["layout"]
    assert attention["yaxis"]["title"]["text"].startswith("output")  # decoder rows named by what they write
    assert attention["yaxis"]["ticktext"][-1] == "&lt;end&gt;"
    app.text_input(key="dlb_seq_text").set_value("Tuesday, November 2, 2021").run()
    assert not app.exception
    typed = charts(app)["dlb_seq_typed"]["data"][0]["cells"]["values"]
    assert typed[0] == ["Tuesday, November 2, 2021"]
    assert re.fullmatch(r"[0-9-]{1,11}( …)?", re.sub(r"<[^>]*>", "", typed[1][0])), typed  # digits and dashes
    rows = charts(app)["dlb_seq_typed_attention_0"]["layout"]["yaxis"]["ticktext"]
    source = charts(app)["dlb_seq_typed_attention_0"]["layout"]["xaxis"]["ticktext"]
    assert source[:3] == ["T", "u", "e"] and len(source) == len("Tuesday, November 2, 2021")  # padding cut
    assert 1 <= len(rows) <= job.bundle().info.target_steps
    app.text_input(key="dlb_seq_text").set_value("x" * 60).run()
    assert not app.exception and any("shorten it" in error.value for error in app.error)


def test_networks_without_sequences_say_why_the_tab_is_missing():
    document = PRESETS["playground"].load()
    document.training.update(epochs=2, device="cpu")
    job = ThreadRunner().submit(document)
    assert job.wait(120) and job.status == "finished"
    app = inspect_page(job)
    assert not app.exception and "Sequences" not in tab_labels(app)
    assert any("Sequences: this network has no token input" in caption.value for caption in app.caption)


def test_inspect_opened_while_training_takes_the_final_weights_once_the_job_ends():
    job = ThreadRunner().submit(tagger_document(epochs=400, samples=400))
    assert wait_for(lambda: job.state_dict() is not None and job.snapshot().epoch >= 1)
    app = inspect_page(job)
    assert not app.exception and job.active  # still training: the views use a copy of these weights
    first = app.session_state[inspect_panels.SETUP]
    assert app.toggle(key="dlb_seq_live").value  # the attention map follows training
    job.stop()
    assert job.wait(60) and not job.active
    app.run()
    assert not app.exception
    now = app.session_state[inspect_panels.SETUP]
    assert now[1] == first[1] + 1 and now[3]  # reloaded once, now marked final
    final = job.state_dict()
    for name, value in now[2].model.state_dict().items():
        assert torch.equal(value, final[name]), name
    app.run()
    assert app.session_state[inspect_panels.SETUP][1] == now[1]  # no reload on later runs
