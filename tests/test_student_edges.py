"""Rough edges a student meets on the Build page and in the live view (issue 8, section 6)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlbuilder import probes
from dlbuilder.datasets import DATASETS
from dlbuilder.editing import (
    auto_layout,
    blank_network_for_dataset,
    insert_after,
    insert_before,
    network_for_dataset,
    remove_node,
)
from dlbuilder.figures import image_grid_figure, learning_rate_figure
from dlbuilder.figures.images import CAPTION_CHARS, LINE_HEIGHT, reconstruction_figure
from dlbuilder.layout import COLUMN, MAX_COLUMNS, ROW, wrap_layout
from dlbuilder.presets import PRESETS
from dlbuilder.probes import Sample
from dlbuilder.training.metrics import EpochRecord
from dlbuilder.ui import session
from dlbuilder.ui.flow import FlowEdits, apply, node_label, output_summary
from dlbuilder.validation import validate
from dlbuilder.views import model_views
from tests.test_build_page import build_page, current
from tests.test_figures import assert_valid_as_built


def edges_of(document) -> set[tuple[str, str, int]]:
    return {(e.source, e.target, e.slot) for e in document.edges}


# -- a blank start, and the output's units in plain sight ------------------------------------------


@pytest.mark.parametrize("name, units", [("circle", 1), ("blobs", 3), ("sine", 1), ("digits", 10),
                                         ("daily_views", 1)])
def test_blank_network_is_input_to_output_with_its_units_written_in(name, units):
    document = blank_network_for_dataset(name)
    report = validate(document)
    assert report.ok, [p.message for p in report.problems]
    types = [n.type for n in document.nodes]
    assert types == (["input", "flatten", "output"] if name == "digits" else ["input", "output"])
    output = document.node("output")
    assert output.params["units"] == units and report.shapes["output"].shape == (units,)


def test_the_canvas_says_how_many_units_units_0_came_to():
    document = network_for_dataset("circle")  # units 0: "as the dataset needs"
    assert document.node("output").params["units"] == 0
    report = validate(document)
    assert output_summary(document.node("output"), report) == "classification, 2 units (from the dataset)"
    assert "2 units" in node_label(document.node("output"), report)  # the label shows it (escaped)
    blank = blank_network_for_dataset("circle")
    assert output_summary(blank.node("output"), validate(blank)) == "classification, 1 unit"
    assert output_summary(document.node("dense1"), report) is None


def test_blank_button_and_the_inspector_hint():
    app = build_page()
    app.button(key="dlb_blank").click().run()
    document = current(app)
    assert [n.type for n in document.nodes] == ["input", "output"] and document.data.name == "circle"
    assert app.success[0].value.startswith("The network is valid: 2 layers")
    app.button(key="dlb_fresh").click().run()  # 8-8 ReLU with units 0
    app.session_state[session.SELECTED] = "output"
    app.run()
    hints = " ".join(c.value for c in app.caption)
    assert "**2** here, one score per class" in hints and "Set units to 1" in hints


# -- deleting a layer keeps the path through it ---------------------------------------------------


def test_deleting_a_middle_layer_joins_its_neighbours():
    document = remove_node(PRESETS["playground"].load(), "dense1")
    assert edges_of(document) == {("input", "dense2", 0), ("dense2", "output", 0)}
    assert validate(document).ok


@pytest.mark.parametrize("removed, expected", [
    ("dense2", {("dense1", "dense3", 0), ("dense1", "add", 0)}),
    ("dense3", {("dense2", "add", 1), ("dense1", "add", 0)}),  # the branch keeps its slot in the merge
    ("relu", {("add", "output", 0)}),
])
def test_deleting_inside_a_residual_block_keeps_it_valid(removed, expected):
    document = remove_node(PRESETS["residual"].load(), removed)
    assert expected <= edges_of(document)
    report = validate(document)
    assert report.ok, [p.message for p in report.problems]


def test_deleting_the_first_layer_of_a_block_wires_the_input_into_both_paths():
    document = remove_node(PRESETS["residual"].load(), "dense1")
    assert {("input", "dense2", 0), ("input", "add", 0)} <= edges_of(document)
    # connected as drawn; the one problem left is a real one: x (2 values) + F(x) (16) do not add
    assert [(p.check, p.node) for p in validate(document).problems] == [("shape", "add")]


def test_deleting_a_merge_passes_its_first_input_on_and_names_the_open_branch():
    document = remove_node(PRESETS["residual"].load(), "add")
    assert ("dense1", "relu", 0) in edges_of(document)
    problems = {p.node: p.message for p in validate(document).problems}
    assert set(problems) == {"dense2", "dense3"}
    assert all("does not lead to the output:" in m and "output output" not in m for m in problems.values())
    joined = remove_node(PRESETS["seq2seq"].load(), "join")  # Concat(attention, decoder)
    assert ("attention", "combine", 0) in edges_of(joined) and validate(joined).ok


def test_deleting_an_input_leaves_its_targets_open():
    document = remove_node(PRESETS["playground"].load(), "input")
    assert edges_of(document) == {("dense1", "dense2", 0), ("dense2", "output", 0)}


def test_a_node_deleted_on_the_canvas_is_bridged():
    """The canvas reports the node and both of its edges as removed; the bridge must survive."""
    document = PRESETS["playground"].load()
    edits = FlowEdits(removed_nodes=["dense2"], removed_edges=[("dense1", "dense2"), ("dense2", "output")])
    result = apply(document, edits)
    assert edges_of(result) == {("input", "dense1", 0), ("dense1", "output", 0)} and validate(result).ok


# -- a layer added with the Output selected goes before it -----------------------------------------


def test_insert_before_the_output_takes_its_place_and_wires_in():
    document = PRESETS["playground"].load()
    x, y = document.node("output").position
    result, new_id = insert_before(document, "output", "dropout")
    assert ("dense2", new_id, 0) in edges_of(result) and (new_id, "output", 0) in edges_of(result)
    assert ("dense2", "output", 0) not in edges_of(result)
    assert result.node(new_id).position == (x, y) and result.node("output").position == (x + COLUMN, y)
    assert validate(result).ok


def test_palette_with_the_output_selected_inserts_before_it():
    app = build_page()
    app.session_state[session.SELECTED] = "output"
    app.run()
    captions = " ".join(c.value for c in app.sidebar.caption)
    assert "before the output, between **dense2** and **output**" in captions
    assert "take over its connections" not in captions
    app.button(key="dlb_add_dense").click().run()
    document = current(app)
    assert [e.source for e in document.incoming("dense3")] == ["dense2"]
    assert [e.source for e in document.incoming("output")] == ["dense3"]
    assert app.success[0].value.startswith("The network is valid: 5 layers")


def test_adding_an_output_with_a_layer_selected_does_not_cut_the_network():
    app = build_page()
    app.session_state[session.SELECTED] = "dense1"
    app.run()
    app.button(key="dlb_add_output").click().run()
    document = current(app)
    assert [e.source for e in document.incoming("dense2")] == ["dense1"]
    assert document.incoming("output1") == []


# -- layouts that fit the canvas at a legible zoom --------------------------------------------------


def columns_and_bands(document) -> tuple[int, list[float]]:
    xs = sorted({round(n.position[0]) for n in document.nodes})
    ys = sorted({round(n.position[1]) for n in document.nodes})
    return len(xs), ys


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_wrap_into_bands_of_at_most_four_columns(name):
    document = wrap_layout(PRESETS[name].load())
    columns, _ = columns_and_bands(document)
    assert columns <= MAX_COLUMNS
    assert validate(document).ok and document.to_dict()["network"]["edges"] == \
        PRESETS[name].load().to_dict()["network"]["edges"]  # only positions change


def test_an_eight_layer_chain_becomes_two_bands_of_four_read_left_to_right():
    document = wrap_layout(PRESETS["lenet"].load())
    ids = [n.id for n in document.nodes]
    first, second = ids[:4], ids[4:]
    band_y = {document.node(i).position[1] for i in first}, {document.node(i).position[1] for i in second}
    assert len(band_y[0]) == 1 and len(band_y[1]) == 1 and min(band_y[1]) - max(band_y[0]) > ROW
    assert [document.node(i).position[0] for i in first] == [document.node(i).position[0] for i in second]


def test_tidy_and_new_networks_wrap_too():
    assert columns_and_bands(network_for_dataset("digits"))[0] == 3  # six layers: two bands of three
    chain = PRESETS["deep_mlp"].load()  # six columns
    assert columns_and_bands(auto_layout(chain))[0] == 3
    assert columns_and_bands(auto_layout(PRESETS["playground"].load()))[0] == 4  # short ones stay in a row


def test_tidy_keeps_huge_networks_within_the_positions_a_document_accepts():
    from dlbuilder.document import Document, Edge, Node, load_document

    nodes = [Node("input", "input", {"shape": [2], "dtype": "float", "vocab_size": 0}, None)]
    nodes += [Node(f"wide{i}", "relu", {}, None) for i in range(400)]  # one column 400 rows high...
    nodes += [Node(f"deep{i}", "relu", {}, None) for i in range(500)]  # ...beside a chain 500 long
    edges = [Edge("input", f"wide{i}", 0) for i in range(400)] + [Edge("input", "deep0", 0)]
    edges += [Edge(f"deep{i}", f"deep{i + 1}", 0) for i in range(499)]
    tidy = auto_layout(Document(nodes=nodes, edges=edges, name="huge"))
    assert max(abs(v) for n in tidy.nodes for v in n.position) < 1e6
    load_document(tidy.to_dict())  # saved and opened again without "position must be two numbers"


def test_loading_a_long_preset_lays_it_out_in_bands():
    app = build_page()
    app.selectbox(key="dlb_preset").select("lenet").run()
    assert columns_and_bands(current(app))[0] == 4


def test_inserting_in_a_wrapped_layout_moves_only_its_own_band():
    document = wrap_layout(PRESETS["lenet"].load())
    second_band = {n.id: n.position for n in document.nodes[4:]}
    result, _ = insert_after(document, "conv1", "dropout")
    assert {node_id: result.node(node_id).position for node_id in second_band} == second_band


# -- the live charts ----------------------------------------------------------------------------------


def epochs_with(rates) -> list[EpochRecord]:
    return [EpochRecord(epoch=i + 1, step=10 * (i + 1), train_loss=1.0, val_loss=None, train_metric=None,
                        val_metric=None, learning_rate=rate, examples_per_second=1.0, seconds=1.0,
                        weight_norms={}, grad_norms={}) for i, rate in enumerate(rates)]


@pytest.mark.parametrize("rates", [[0.03] * 30, [0.01 + 0.02 * (1 + math.cos(math.pi * i / 30)) / 2 for i in range(30)],
                                   [0.5 * (i + 1) / 10 for i in range(10)], [0.03]])
def test_learning_rate_axis_starts_at_zero_and_shows_the_rate(rates):
    figure = learning_rate_figure(epochs_with(rates))
    low, high = figure.layout.yaxis.range
    assert low == 0 and max(rates) <= high <= 1.3 * max(rates)  # 0.03 sits near the top, not at "0"
    assert figure.layout.yaxis.type != "log"
    assert_valid_as_built(figure)


def test_learning_rate_axis_on_a_log_scale_covers_the_decay():
    figure = learning_rate_figure(epochs_with([0.1 * 0.1 ** (i // 10) for i in range(30)]))
    low, high = figure.layout.yaxis.range
    assert figure.layout.yaxis.type == "log" and low < math.log10(0.001) and high > math.log10(0.1)
    assert_valid_as_built(figure)


def caption_room(figure) -> list[tuple[float, int]]:
    """For each row of images: (pixels free above its images, most caption lines in that row)."""
    plot = figure.layout.height - figure.layout.margin.t - figure.layout.margin.b
    domains = sorted((figure.layout[key].domain for key in figure.layout if key.startswith("yaxis")),
                     key=lambda d: -d[1])
    room = []
    for index, (bottom, top) in enumerate(domains):
        ceiling = 1.0 if index == 0 else domains[index - 1][0]  # the row above's images
        lines = [a.text.count("<br>") + 1 for a in figure.layout.annotations if math.isclose(a.y, top)]
        room.append(((ceiling - top) * plot, max(lines, default=0)))
    return room


@pytest.mark.parametrize("names", [tuple("0123456789"), ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")])
def test_image_captions_have_room_above_their_images(names):
    samples = [Sample(np.zeros((8, 8)), true=i % 10, predicted=(3 * i) % 10, probability=0.62) for i in range(9)]
    figure = image_grid_figure(samples, names, columns=3)
    room = caption_room(figure)
    assert len(room) == 3 and all(lines >= 1 for _, lines in room)
    for free, lines in room:
        assert free >= lines * LINE_HEIGHT - 1e-6  # two-line captions do not reach the row above
    for annotation in figure.layout.annotations:
        assert all(len(line) <= CAPTION_CHARS for line in annotation.text.split("<br>")), annotation.text
    assert_valid_as_built(figure)


# -- the autoencoder's live view ------------------------------------------------------------------------


class Halve(nn.Module):
    def forward(self, x):
        return x * 0.5


def test_reconstructions_probe_returns_inputs_outputs_and_errors():
    x = torch.rand(20, 1, 8, 8)
    model = Halve().train()
    rebuilt = probes.reconstructions(model, x, count=6)
    assert rebuilt.inputs.shape == rebuilt.outputs.shape == (6, 8, 8) and model.training
    np.testing.assert_allclose(rebuilt.outputs, 0.5 * x[:6, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(rebuilt.errors, ((0.5 * x[:6]) ** 2).reshape(6, -1).mean(1).numpy(), rtol=1e-5)
    assert probes.reconstructions(model, x[:0]).inputs.shape[0] == 0


def test_reconstruction_figure_puts_each_rebuilt_image_beside_its_input():
    inputs, outputs = np.random.default_rng(0).random((2, 4, 8, 8))
    figure = reconstruction_figure(inputs, outputs, errors=[0.1, 0.2, 0.3, 0.4], pairs_per_row=2)
    assert len(figure.data) == 8
    np.testing.assert_array_equal(figure.data[0].z, inputs[0].astype(np.float32))
    np.testing.assert_array_equal(figure.data[1].z, outputs[0].astype(np.float32))
    assert figure.data[0].yaxis == figure.data[1].yaxis and figure.data[0].xaxis != figure.data[1].xaxis
    titles = [a.text for a in figure.layout.annotations]
    assert titles[:4] == ["input", "rebuilt<br>0.100", "input", "rebuilt<br>0.200"]
    assert_valid_as_built(figure)


def test_the_autoencoder_preset_has_a_live_view():
    document = PRESETS["autoencoder"].load()
    bundle = DATASETS["digits"].load(document.data.params, 0)
    from dlbuilder.compile import compile_graph

    model = compile_graph(document)
    views = model_views(model, bundle, document.data.params, "mse", "reconstruction")
    (title, figure), = views.items()
    assert "rebuilt" in title and "mean squared error" in title and len(figure.data) == 12
    np.testing.assert_allclose(figure.data[0].z, bundle.x_test[0, 0].numpy(), rtol=1e-6)
