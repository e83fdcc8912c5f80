"""Histograms of weights, activations and gradients, dead ReLUs, gradient norms, the 2-D bottleneck."""

import numpy as np
import pytest
import torch
from conftest import requires_cuda
from streamlit.testing.v1 import AppTest

from dlbuilder.compile import compile_graph
from dlbuilder.document import load_document
from dlbuilder.figures.bottleneck import code_grid_figure, code_scatter_figure, mosaic
from dlbuilder.figures.distributions import (
    dead_units_figure,
    gradient_norm_figure,
    histogram_heatmap_figure,
    ridge_figure,
)
from dlbuilder.inspection import bottleneck, distributions
from dlbuilder.inspection.distributions import MIN_RANGE, Batch, HistogramRecorder, histogram
from dlbuilder.presets import PRESETS
from dlbuilder.probes import forward
from dlbuilder.training.setup import prepare
from dlbuilder.training.trainer import Trainer
from tests.networks import document_dict, input_node
from tests.test_figures import assert_valid_as_built


def chain(width: list[int], activation: str, features: int = 4, units: int = 3):
    """Input(features) -> Dense(w, activation) for w in width -> Output(regression, units), compiled."""
    nodes = [input_node("features", [features])]
    nodes += [{"id": f"dense{i}", "type": "dense", "params": {"units": w, "activation": activation}}
              for i, w in enumerate(width, start=1)]
    nodes.append({"id": "out", "type": "output", "params": {"task": "regression", "units": units}})
    edges = [(a["id"], b["id"], 0) for a, b in zip(nodes, nodes[1:])]
    torch.manual_seed(0)
    return compile_graph(load_document(document_dict(nodes, edges)))


def batch_for(model, size: int = 32, units: int = 3) -> Batch:
    inputs = model.example_inputs(batch=size, seed=1)
    return Batch(inputs, torch.randn(size, units, generator=torch.Generator().manual_seed(2)), "mse")


# -- histograms --------------------------------------------------------------------------------------


def test_histogram_known_answer_on_a_power_of_two_range():
    h = histogram(torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, float("nan"), float("inf")]), bins=4)
    np.testing.assert_allclose(h.edges, [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(h.counts, [1, 1, 1, 2])  # the top edge joins the last bin
    assert h.nonfinite == 2 and h.total == 5
    unsigned = histogram(torch.tensor([0.0, 0.3, 2.5]), bins=4)
    np.testing.assert_allclose(unsigned.edges, [0, 1, 2, 3, 4])  # 2.5 -> range 4, no negatives
    np.testing.assert_array_equal(unsigned.counts, [2, 0, 1, 0])
    assert histogram(torch.zeros(5)).edges[-1] == MIN_RANGE
    assert distributions.power_range(0.3) == 0.5 and distributions.power_range(3.0) == 4.0


def test_rebinning_onto_shared_edges_is_exact():
    generator = torch.Generator().manual_seed(0)
    small = torch.rand(1000, generator=generator) * 0.7  # range [0, 1]
    large = torch.randn(1000, generator=generator) * 1.5  # signed range, 4 or 8
    edges = distributions.shared_edges([histogram(small), histogram(large)])
    assert edges[0] == -edges[-1] and edges[-1] >= 4
    expected, _ = np.histogram(small.double().numpy(), bins=edges)
    np.testing.assert_array_equal(distributions.rebin(histogram(small), edges), expected)


def test_layer_histograms_count_every_value_and_leave_the_model_alone():
    model = chain([5, 6], "tanh").train()
    batch = batch_for(model)
    found = distributions.layer_histograms(model, batch, bins=16)
    assert list(found.weights) == ["dense1", "dense2", "out"]  # the network's order, no input
    assert found.weights["dense1"].total == 4 * 5  # the weight matrix; biases left out
    assert found.activations["dense2"].total == 32 * 6
    assert found.gradients["out"].total == 6 * 3
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    loss = distributions.batch_loss(model, batch)
    loss.backward()
    expected = histogram(model.get_submodule("dense1")[0].weight.grad, bins=16)
    np.testing.assert_array_equal(found.gradients["dense1"].counts, expected.counts)


def test_gradient_norms_match_backward_and_vanish_in_a_deep_sigmoid_net():
    model = chain([32] * 8, "sigmoid")
    batch = batch_for(model)
    norms = distributions.gradient_norms(model, batch)
    model.eval()
    distributions.batch_loss(model, batch).backward()
    dense1 = torch.sqrt(sum(p.grad.square().sum() for p in model.get_submodule("dense1").parameters()))
    assert norms["dense1"] == pytest.approx(float(dense1), rel=1e-5)
    assert list(norms) == [f"dense{i}" for i in range(1, 9)] + ["out"]
    # each sigmoid layer multiplies the gradient by at most 0.25 x its weights: it vanishes towards the input
    assert norms["dense1"] < 1e-3 * norms["dense8"]
    assert all(norms[f"dense{i}"] < norms[f"dense{i + 1}"] for i in range(1, 8))


def test_dead_relu_units_are_counted_per_unit_and_per_channel():
    model = chain([6], "relu")
    with torch.no_grad():
        layer = model.get_submodule("dense1")[0]
        layer.weight[:2] = 0.0
        layer.bias[:2] = -1.0  # units 0 and 1 output 0 for every input
        layer.bias[2:] = 100.0  # the others always fire
    dead = distributions.dead_relu_units(model, batch_for(model))
    assert set(dead) == {"dense1"} and (dead["dense1"].dead, dead["dense1"].units) == (2, 6)
    assert dead["dense1"].fraction == pytest.approx(1 / 3)
    lenet = compile_graph(PRESETS["lenet"].load())
    with torch.no_grad():
        lenet.get_submodule("conv1")[0].bias[:3] = -1e6  # three filters dead everywhere
    found = distributions.dead_relu_units(lenet, Batch(lenet.example_inputs(8), torch.zeros(8, dtype=torch.long),
                                                       "cross_entropy"))
    assert (found["conv1"].dead, found["conv1"].units) == (3, 6)
    assert set(found) == {"conv1", "conv2", "dense1"}


def test_recorder_keeps_memory_bounded_and_stacks_on_shared_edges():
    model = chain([5], "relu")
    batch = batch_for(model)
    recorder = HistogramRecorder(max_epochs=4)
    for epoch in range(10):
        with torch.no_grad():
            for param in model.parameters():
                param.mul_(1.5)  # weights grow: later ranges are wider
        recorder.record(epoch, distributions.layer_histograms(model, batch, bins=8))
    assert len(recorder.epochs) <= 4 and recorder.epochs[0] == 0 and recorder.epochs[-1] == 9
    stack = recorder.stacked("weights", "dense1")
    assert stack.counts.shape == (len(recorder.epochs), 8)
    assert (stack.counts.sum(axis=1) == 4 * 5).all()
    assert stack.edges[-1] == max(s.weights["dense1"].edges[-1] for s in recorder.sets)
    assert recorder.nodes("activations") == ["dense1", "out"]
    with pytest.raises(ValueError, match="kind must be one of"):
        recorder.stacked("biases", "dense1")


def test_fixed_batch_is_the_same_every_time():
    document = PRESETS["playground"].load()
    document.training["device"] = "cpu"
    setup = prepare(document)
    first, again = distributions.fixed_batch(setup, 64, seed=3), distributions.fixed_batch(setup, 64, seed=3)
    assert first.inputs[0].shape == (64, 2) and torch.equal(first.inputs[0], again.inputs[0])
    assert not torch.equal(first.inputs[0], distributions.fixed_batch(setup, 64, seed=4).inputs[0])
    assert first.loss == setup.loss


@requires_cuda
def test_probes_on_a_gpu_model_match_the_cpu():
    model = chain([5, 6], "relu")
    batch = batch_for(model)
    on_cpu = distributions.layer_histograms(model, batch)
    gpu_batch = Batch(tuple(x.cuda() for x in batch.inputs), batch.targets.cuda(), batch.loss)
    on_gpu = distributions.layer_histograms(model.cuda(), gpu_batch)
    for kind in ("weights", "activations"):
        for node, found in getattr(on_gpu, kind).items():
            np.testing.assert_array_equal(found.counts, getattr(on_cpu, kind)[node].counts)
    assert distributions.dead_relu_units(model, gpu_batch)["dense1"].units == 5
    norms = distributions.gradient_norms(model, gpu_batch)
    assert all(value > 0 for value in norms.values())


# -- the 2-D bottleneck ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autoencoder():
    """The autoencoder preset after 120 updates on digits: (model, test images, test labels)."""
    document = PRESETS["autoencoder"].load()
    document.training["device"] = "cpu"
    trainer = Trainer(document)
    for _ in range(120):
        trainer.step()
    test = trainer.setup.splits["test"]
    return trainer.setup.model, test.x, test.y


def test_bottleneck_is_found_and_decoding_its_codes_gives_the_output(autoencoder):
    model, x, _ = autoencoder
    assert bottleneck.find_bottleneck(model) == "code"
    codes = bottleneck.encode(model, x[:50], "code")
    assert codes.shape == (50, 2) and codes.std(axis=0).min() > 0
    with torch.no_grad():
        np.testing.assert_allclose(bottleneck.decode(model, "code", codes), forward(model.eval(), x[:50]).numpy(),
                                   atol=1e-5)


def test_bottleneck_view_grid_spans_the_codes(autoencoder):
    model, x, y = autoencoder
    view = bottleneck.bottleneck_view(model, x, y, steps=5, count=4)
    assert view.node == "code" and view.codes.shape == (len(x), 2) and view.labels.shape == (len(x),)
    assert view.grid.images.shape == (5, 5, 8, 8)
    assert view.grid.xs[0] < np.percentile(view.codes[:, 0], 5) < view.grid.xs[-1]
    decoded = bottleneck.decode(model, "code", [[view.grid.xs[1], view.grid.ys[3]]])
    np.testing.assert_allclose(view.grid.images[3, 1], decoded[0, 0], atol=1e-6)  # row = y, column = x
    assert view.rebuilt.inputs.shape == (4, 8, 8) and view.rebuilt.errors.shape == (4,)


def test_bottleneck_errors_say_what_to_change():
    with pytest.raises(ValueError, match="add a Dense with units=2"):
        bottleneck.find_bottleneck(compile_graph(PRESETS["deep_mlp"].load()))
    nodes = [input_node("features", [4]), {"id": "code", "type": "dense", "params": {"units": 2}},
             {"id": "back", "type": "dense", "params": {"units": 4}}, {"id": "add", "type": "add"},
             {"id": "out", "type": "output", "params": {"task": "regression", "units": 1}}]
    edges = [("features", "code", 0), ("code", "back", 0), ("back", "add", 0), ("features", "add", 1),
             ("add", "out", 0)]
    skip = compile_graph(load_document(document_dict(nodes, edges)))
    with pytest.raises(ValueError, match="a branch goes around it"):
        bottleneck.decode(skip, "code", np.zeros((1, 2)))


# -- figures -------------------------------------------------------------------------------------------


def recorded() -> HistogramRecorder:
    model = chain([5, 6], "relu")
    batch = batch_for(model)
    recorder = HistogramRecorder()
    for epoch in range(3):
        recorder.record(epoch, distributions.layer_histograms(model, batch, bins=16))
    return recorder


def test_histogram_figures_show_shares_per_epoch():
    recorder = recorded()
    stacks = [recorder.stacked("activations", node) for node in recorder.nodes("activations")]
    heat = histogram_heatmap_figure(stacks)
    assert [t.type for t in heat.data] == ["heatmap"] * 3 and heat.data[2].yaxis == "y3"
    np.testing.assert_allclose(np.asarray(heat.data[0].z).sum(axis=1), 1.0)
    ridge = ridge_figure(recorder.stacked("weights", "dense2"))
    assert len(ridge.data) == 3 and ridge.data[-1].name == "epoch 2"
    for figure in (heat, ridge):
        assert_valid_as_built(figure)


def test_dead_norm_and_code_figures():
    dead = dead_units_figure({"dense1": distributions.DeadUnits(8, 2)})
    assert list(dead.data[0].y) == [25.0] and dead.data[0].text == ("2 of 8",)
    norms = gradient_norm_figure({"dense1": 1e-6, "out": 0.1})
    assert norms.layout.yaxis.type == "log" and list(norms.data[0].x) == ["dense1", "out"]
    scatter = code_scatter_figure(np.array([[0, 0], [1, 1], [2, 0]]), [0, 1, 1], ("zero", "one"))
    assert [t.name for t in scatter.data] == ["zero", "one"] and len(scatter.data[1].x) == 2
    grid = bottleneck.CodeGrid(np.array([0.0, 1.0]), np.array([-1.0, 1.0]), np.arange(8.0).reshape(2, 2, 1, 2) / 8)
    tiled = mosaic(grid.images)
    assert tiled.shape == (3, 5) and np.isnan(tiled[1]).all() and tiled[2, 0] == 0.0  # row y = -1 at the bottom
    for figure in (dead, norms, scatter, code_grid_figure(grid)):
        assert_valid_as_built(figure)


def render_all():
    import numpy as np
    import streamlit as st
    import torch

    from dlbuilder.figures.bottleneck import code_grid_figure, code_scatter_figure
    from dlbuilder.figures.distributions import (dead_units_figure, gradient_norm_figure,
                                                 histogram_heatmap_figure, ridge_figure)
    from dlbuilder.inspection.bottleneck import CodeGrid
    from dlbuilder.inspection.distributions import DeadUnits, HistogramRecorder, HistogramSet, histogram

    recorder = HistogramRecorder()
    for epoch in range(3):
        values = {"dense1": histogram(torch.randn(100) * (epoch + 1))}
        recorder.record(epoch, HistogramSet(values, values, values))
    st.plotly_chart(histogram_heatmap_figure([recorder.stacked("weights", "dense1")]))
    st.plotly_chart(ridge_figure(recorder.stacked("gradients", "dense1")))
    st.plotly_chart(dead_units_figure({"dense1": DeadUnits(8, 2)}))
    st.plotly_chart(gradient_norm_figure({"dense1": 1e-6, "out": 0.1}))
    st.plotly_chart(code_scatter_figure(np.zeros((4, 2)), [0, 1, 2, 3]))
    st.plotly_chart(code_grid_figure(CodeGrid(np.zeros(2), np.zeros(2), np.zeros((2, 2, 8, 8)))))


def test_every_figure_renders_in_apptest():
    app = AppTest.from_function(render_all, default_timeout=60).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 6
