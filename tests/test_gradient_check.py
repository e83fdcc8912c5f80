"""The gradient check: autograd equals central differences for every layer type, and a corrupted
gradient is caught in the layer it corrupts."""

import pytest
import torch
from conftest import requires_cuda
from streamlit.testing.v1 import AppTest

from dlbuilder.compile import compile_graph
from dlbuilder.document import load_document
from dlbuilder.figures.distributions import PASS_COLOUR, gradient_check_figure
from dlbuilder.figures.style import WRONG_COLOUR
from dlbuilder.inspection.distributions import fixed_batch
from dlbuilder.inspection.gradient_check import TOLERANCE, _evaluator, gradient_check, loss_objective
from dlbuilder.layers import LAYERS
from dlbuilder.presets import PRESETS
from dlbuilder.training.trainer import Trainer
from tests.networks import document_dict, input_node, single_layer_document
from tests.test_figures import assert_valid_as_built


def mlp(activation: str = "tanh"):
    nodes = [input_node("features", [4]),
             {"id": "dense1", "type": "dense", "params": {"units": 5, "activation": activation}},
             {"id": "dense2", "type": "dense", "params": {"units": 5, "activation": activation}},
             {"id": "out", "type": "output", "params": {"task": "regression", "units": 2}}]
    edges = [(a["id"], b["id"], 0) for a, b in zip(nodes, nodes[1:])]
    torch.manual_seed(0)
    return compile_graph(load_document(document_dict(nodes, edges)))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_type_passes(name, mode):
    torch.manual_seed(0)
    model = compile_graph(single_layer_document(name))
    result = gradient_check(model, model.example_inputs(batch=4), mode=mode)
    assert result.passed, result.rows()
    for layer in result.layers:
        has_parameters = any(True for _ in model.get_submodule(layer.node).parameters())
        assert layer.status == ("pass" if has_parameters else "no parameters"), layer
        if has_parameters:
            assert layer.checked >= 1 and layer.max_error <= TOLERANCE / 10  # a wide margin, not luck
        else:
            assert layer.passed is None and layer.max_error is None and layer.checked == 0


def test_a_scaled_gradient_fails_in_the_layers_it_reaches():
    model = mlp()
    # dense2's backward hands dense1 twice the true gradient: dense1 is wrong, dense2 and out are right
    model.get_submodule("dense2").register_full_backward_hook(lambda m, grad_in, grad_out: (2 * grad_in[0],))
    result = gradient_check(model, model.example_inputs(batch=4))
    status = {layer.node: layer.status for layer in result.layers}
    assert status == {"dense1": "fail", "dense2": "pass", "out": "pass"} and not result.passed
    worst = result.layers[0]
    assert worst.max_error == pytest.approx(0.5, rel=1e-4)  # |2a - a| / |2a|
    assert worst.autograd == pytest.approx(2 * worst.numeric, rel=1e-6)


def test_the_check_leaves_the_model_as_it_was():
    model = mlp().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradient_check(model, model.example_inputs(batch=4), mode="eval")
    assert model.training and all(p.grad is None and p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_dropout_in_train_mode_uses_one_fixed_mask():
    torch.manual_seed(0)
    model = compile_graph(single_layer_document("dropout")).double()
    inputs = tuple(x.double() for x in model.example_inputs(batch=4))
    objective = lambda output: output.sum()  # noqa: E731
    train = _evaluator(model, inputs, objective, "train")
    first = train().item()
    assert train().item() == first  # the same mask each evaluation, so differences are meaningful
    assert _evaluator(model, inputs, objective, "eval")().item() != first  # but dropout does drop


def test_kinks_are_skipped_not_failed():
    model = mlp("relu")
    with torch.no_grad():
        for param in model.get_submodule("dense1").parameters():
            param.zero_()  # every unit sits exactly at ReLU's kink: no derivative to check
    result = gradient_check(model, model.example_inputs(batch=4))
    dense1 = result.layers[0]
    assert dense1.status == "only kinks" and dense1.kinks == dense1.checked + dense1.kinks > 0
    assert result.passed


def test_the_training_loss_of_a_preset_passes():
    document = PRESETS["lenet"].load()
    document.training["device"] = "cpu"
    setup = Trainer(document).setup
    batch = fixed_batch(setup, size=8)
    result = gradient_check(setup.model, batch.inputs, loss_objective(batch.loss, batch.targets))
    assert result.passed, result.rows()
    assert [layer.status for layer in result.layers] == ["pass", "no parameters"] * 2 + ["no parameters",
                                                                                       "pass", "pass"]


@requires_cuda
def test_a_gpu_model_is_checked_on_a_cpu_copy():
    model = mlp().cuda()
    result = gradient_check(model, tuple(x.cuda() for x in model.example_inputs(batch=4)))
    assert result.passed and next(model.parameters()).device.type == "cuda"


def test_unknown_mode_says_what_to_pick():
    model = mlp()
    with pytest.raises(ValueError, match="'train' .* or 'eval'"):
        gradient_check(model, model.example_inputs(), mode="test")


def test_gradient_check_figure_colours_and_tolerance_line():
    model = mlp()
    model.get_submodule("dense2").register_full_backward_hook(lambda m, grad_in, grad_out: (2 * grad_in[0],))
    figure = gradient_check_figure(gradient_check(model, model.example_inputs(batch=4)))
    assert list(figure.data[0].marker.color) == [WRONG_COLOUR, PASS_COLOUR, PASS_COLOUR]
    assert figure.layout.shapes[0].y0 == TOLERANCE and "FAIL" in figure.layout.title.text
    assert_valid_as_built(figure)
    no_parameters = gradient_check_figure(gradient_check(compile_graph(single_layer_document("relu")),
                                                         compile_graph(single_layer_document("relu")).example_inputs()))
    assert [a.text for a in no_parameters.layout.annotations] == ["no parameters"] * 2
    assert_valid_as_built(no_parameters)


def render_check():
    import streamlit as st
    import torch

    from dlbuilder.compile import compile_graph
    from dlbuilder.figures.distributions import gradient_check_figure
    from dlbuilder.inspection.gradient_check import gradient_check
    from dlbuilder.presets import PRESETS

    torch.manual_seed(0)
    model = compile_graph(PRESETS["lenet"].load())
    st.plotly_chart(gradient_check_figure(gradient_check(model, model.example_inputs(batch=2))))


def test_gradient_check_figure_renders_in_apptest():
    app = AppTest.from_function(render_check, default_timeout=60).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1
