"""Playground's neuron view: the probe against a hand forward pass, the figure's layout, the Train page."""

import json
import math
import time

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlbuilder.compile import compile_graph
from dlbuilder.datasets import DATASETS
from dlbuilder.figures.neurons import MAX_UNITS, MAX_VALUES, colour_limit, neuron_figure
from dlbuilder.figures.style import PLAYGROUND_BLUE, PLAYGROUND_ORANGE
from dlbuilder.inspection.neurons import neuron_maps, unit_choices
from dlbuilder.playground_import import document_from_playground
from dlbuilder.presets import PRESETS
from dlbuilder.ui import jobs, session
from tests.networks import long_playground
from tests.test_figures import assert_valid_as_built

ALL_FEATURES = "&x=true&y=true&xSquared=true&ySquared=true&xTimesY=true&sinX=true&sinY=true"


def setup(document, resolution: int = 9):
    model = compile_graph(document)
    bundle = DATASETS[document.data.name].load(document.data.params, document.seed)
    return model, neuron_maps(model, bundle, document.data.params, resolution=resolution)


@pytest.fixture(scope="module")
def playground():
    torch.manual_seed(3)
    return setup(PRESETS["playground"].load())


def test_maps_equal_a_hand_forward_pass(playground):
    model, neurons = playground
    (w1, b1), (w2, b2), (w3, b3) = [(layer.weight.detach(), layer.bias.detach()) for layer in
                                    (model.dense1[0], model.dense2[0], model.output)]
    for i, j in [(0, 0), (4, 4), (2, 7), (8, 1)]:  # row i is y = ys[i], column j is x = xs[j]
        point = torch.tensor([neurons.xs[j], neurons.ys[i]], dtype=torch.float32)
        hidden1 = torch.tanh(w1 @ point + b1)
        hidden2 = torch.tanh(w2 @ hidden1 + b2)
        output = w3 @ hidden2 + b3
        expected = [point, hidden1, hidden2, output]
        for layer, values in zip(neurons.layers, expected):
            np.testing.assert_allclose(layer.maps[:, i, j], values.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(neurons.xs, np.linspace(-6, 6, 9), atol=1e-6)


def test_one_map_per_unit_with_its_incoming_weights(playground):
    model, neurons = playground
    assert [layer.name for layer in neurons.layers] == ["input", "dense1", "dense2", "output"]
    assert [layer.maps.shape for layer in neurons.layers] == [(2, 9, 9), (4, 9, 9), (2, 9, 9), (1, 9, 9)]
    assert neurons.layers[0].labels == ("x", "y") and neurons.layers[0].weights is None
    dense2 = neurons.layers[2]
    assert dense2.labels == ("dense2 #1", "dense2 #2") and dense2.source == 1
    assert dense2.source_labels == ("dense1 #1", "dense1 #2", "dense1 #3", "dense1 #4")
    np.testing.assert_array_equal(dense2.weights, model.dense2[0].weight.detach().numpy())
    np.testing.assert_array_equal(dense2.bias, model.dense2[0].bias.detach().numpy())
    choices = unit_choices(neurons)
    assert len(choices) == 4 + 2 + 1 and choices["dense2 #2"] == (2, 1) and "x" not in choices
    assert model.training  # the probe put the model back in training mode


def test_all_seven_features_are_their_own_maps():
    _, neurons = setup(document_from_playground("dataset=xor&networkShape=3" + ALL_FEATURES))
    features = neurons.layers[0]
    assert features.labels == ("x", "y", "x²", "y²", "x·y", "sin(x)", "sin(y)")
    x, y = np.meshgrid(neurons.xs, neurons.ys)  # (rows = y, columns = x), as the maps
    for index, expected in enumerate([x, y, x * x, y * y, x * y, np.sin(x), np.sin(y)]):
        np.testing.assert_allclose(features.maps[index], expected, rtol=1e-5, atol=1e-5)
    assert neurons.layers[1].weights.shape == (3, 7) and neurons.layers[1].source_labels == features.labels


def test_a_layer_reading_a_merge_has_no_drawn_source():
    _, neurons = setup(PRESETS["residual"].load())
    names = [layer.name for layer in neurons.layers]
    assert names == ["input", "dense1", "dense2", "dense3", "output"]
    output = neurons.layers[-1]
    assert output.source is None and output.source_labels[0] == "relu #1" and len(output.source_labels) == 16
    assert neurons.layers[1].source == 0 and neurons.layers[3].source == 2


def test_other_data_is_refused_with_what_to_do():
    document = PRESETS["lenet"].load()
    model = compile_graph(document)
    bundle = DATASETS["digits"].load({}, 0)
    with pytest.raises(ValueError, match="pick one on the Build page"):
        neuron_maps(model, bundle)


# -- the figure ------------------------------------------------------------------------------------


def heatmaps(figure):
    return [trace for trace in figure.data if trace.type == "heatmap"]


def unstack(trace, resolution: int):
    """The maps a stacked heatmap holds, top first (blocks of rows between NaN gaps)."""
    z = np.asarray(trace.z)
    filled = ~np.isnan(z).all(axis=1)
    starts = [row for row in range(len(z)) if filled[row] and (row == 0 or not filled[row - 1])]
    return [z[start:start + resolution] for start in reversed(starts)]


def test_figure_has_every_map_in_place_and_links_by_sign(playground):
    _, neurons = playground
    figure = neuron_figure(neurons)
    maps = heatmaps(figure)
    assert [trace.name for trace in maps] == ["x", "y", "dense1", "dense2", "output"]  # features one by one
    drawn = [m for trace in maps for m in unstack(trace, 9)]
    expected = [unit for layer in neurons.layers for unit in layer.maps]
    assert len(drawn) == len(expected) == 9
    for got, want in zip(drawn, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    links = [trace for trace in figure.data if trace.type == "scatter"]
    assert sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in links) == 2 * 4 + 4 * 2 + 2 * 1
    assert {t.line.color for t in links} <= {PLAYGROUND_BLUE, PLAYGROUND_ORANGE}
    titles = [a.text for a in figure.layout.annotations]
    assert titles[0].startswith("input<br>") and "own range" in titles[0] and "±1" in titles[1]
    assert not [t for t in figure.data if t.type == "bar"]
    assert_valid_as_built(figure)


def test_selecting_a_unit_shows_its_incoming_weights(playground):
    _, neurons = playground
    figure = neuron_figure(neurons, selected=(2, 1))
    (bars,) = [trace for trace in figure.data if trace.type == "bar"]
    layer = neurons.layers[2]
    np.testing.assert_allclose(bars.y, np.append(layer.weights[1], layer.bias[1]), rtol=1e-6)
    assert list(bars.x) == [*layer.source_labels, "bias"]
    assert list(bars.marker.color) == [PLAYGROUND_BLUE if v >= 0 else PLAYGROUND_ORANGE for v in bars.y]
    assert any("incoming weights of dense2 #2" in a.text for a in figure.layout.annotations)
    assert len(figure.layout.shapes) == 1  # the selected map's frame
    emphasised = [t for t in figure.data if t.type == "scatter" and t.opacity > 0.5]
    assert sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in emphasised) == 4  # its 4 inputs
    assert figure.layout.height > neuron_figure(neurons).layout.height
    assert_valid_as_built(figure)
    assert not [t for t in neuron_figure(neurons, selected=(0, 1)).data if t.type == "bar"]  # a feature


def test_a_wide_layer_shows_its_first_units_and_says_so():
    document = PRESETS["playground"].load()
    document.node("dense1").params["units"] = 12
    _, neurons = setup(document, resolution=40)
    figure = neuron_figure(neurons)
    wide = next(trace for trace in heatmaps(figure) if trace.name == "dense1")
    shown = sum(min(MAX_UNITS, len(layer.labels)) for layer in neurons.layers)
    stride = max(1, math.ceil(math.sqrt(shown * 40 * 40 / MAX_VALUES)))
    assert len(unstack(wide, len(range(0, 40, stride)))) == MAX_UNITS
    assert any(a.text.startswith("dense1<br>") and "8 of 12" in a.text for a in figure.layout.annotations)


def test_many_maps_are_sent_at_a_coarser_grid():
    _, neurons = setup(document_from_playground("dataset=spiral&networkShape=8,8,8,8,8,8" + ALL_FEATURES),
                       resolution=40)
    figure = neuron_figure(neurons)
    sent = sum(int((~np.isnan(np.asarray(t.z))).sum()) for t in heatmaps(figure))
    assert sent <= MAX_VALUES < 56 * 40 * 40
    dense1 = neurons.layers[1]
    first = unstack(next(t for t in heatmaps(figure) if t.name == "dense1"), 20)[0]
    np.testing.assert_allclose(first, dense1.maps[0][::2, ::2], rtol=1e-6)


def test_colour_range_is_playgrounds_unless_values_exceed_it():
    assert colour_limit(np.array([[-0.3, 0.9]])) == 1.0
    assert colour_limit(np.array([[-4.0, 2.5]])) == 4.0


def test_the_figure_renders_in_apptest(playground):
    def page(neurons):
        import streamlit as st

        from dlbuilder.figures.neurons import neuron_figure
        st.plotly_chart(neuron_figure(neurons, selected=(1, 0)), key="neurons")

    app = AppTest.from_function(page, default_timeout=30, args=(playground[1],)).run()
    assert not app.exception
    (chart,) = app.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert len([t for t in spec["data"] if t["type"] == "heatmap"]) == 5
    assert [t["type"] for t in spec["data"]][-1] == "bar"


# -- the Train page --------------------------------------------------------------------------------


from tests.test_train_page import train_page  # noqa: E402,F401  (the Train page with its job cleaned up)


def neuron_charts(app):
    return [chart for chart in app.get("plotly_chart") if json.loads(chart.proto.spec)["layout"].get(
        "uirevision") == "neurons"]


def test_the_train_page_shows_the_neurons_of_a_running_job_when_asked(train_page):
    app = train_page
    app.session_state[session.DOCUMENT] = long_playground()
    app.run()
    assert not app.exception
    app.button(key="dlb_start").click().run()
    job = app.session_state[jobs.JOB]
    deadline = time.monotonic() + 120
    while job.snapshot().epoch < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    app.run()
    assert not neuron_charts(app)  # off by default: nothing is probed
    app.toggle(key="dlb_neurons").set_value(True).run()
    assert not app.exception
    (chart,) = neuron_charts(app)
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"] if t["type"] == "heatmap"] == ["x", "y", "dense1", "dense2", "output"]
    assert job.active  # still training while drawn
    app.selectbox(key="dlb_neuron_unit").set_value("dense1 #3").run()
    (chart,) = neuron_charts(app)
    bars = [t for t in json.loads(chart.proto.spec)["data"] if t["type"] == "bar"]
    assert len(bars) == 1 and bars[0]["x"] == ["x", "y", "bias"]
