"""Every registered layer builds, runs forward and backward, and matches its inferred shape."""

import pytest
import torch

from dlbuilder.compile import compile_graph
from dlbuilder.layers import LAYERS
from dlbuilder.validation import validate
from tests.networks import LAYER_CASES, single_layer_document


def test_every_layer_has_a_case_and_complete_metadata():
    assert set(LAYER_CASES) == set(LAYERS)
    for name, layer in LAYERS.items():
        assert layer.name == name and layer.doc and layer.title
        for param in layer.params:
            assert param.doc, f"{name}.{param.name} needs a one-line doc"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_forward_backward_and_shapes(name):
    document = single_layer_document(name)
    report = validate(document)
    assert report.ok, [str(p) for p in report.problems]
    torch.manual_seed(0)
    model = compile_graph(document).train()
    inputs = model.example_inputs(batch=4)
    with model.capture() as captured:
        prediction = model(*inputs)
    for node_id, spec in report.shapes.items():
        assert tuple(captured.outputs[node_id].shape) == (4, *spec.shape), node_id
    assert torch.isfinite(prediction).all()
    prediction.square().mean().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{param_name} got no gradient"
        assert torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0, f"{param_name} has an all-zero gradient"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parameter_count_without_allocation_matches_real_module(name):
    document = single_layer_document(name)
    report = validate(document)
    model = compile_graph(document)
    real = {child: sum(p.numel() for p in module.parameters()) for child, module in model.named_children()}
    assert {k: v for k, v in report.param_counts.items() if k in real} == real
    assert report.total_params == sum(p.numel() for p in model.parameters())


def test_conv_output_size_follows_the_formula():
    # (N + 2P - K) / S + 1 = (8 + 2 - 3) / 2 + 1 = 4
    report = validate(single_layer_document("conv2d"))
    assert report.shapes["layer"].shape == (3, 4, 4)
    assert report.shapes["flat"].shape == (48,)


def test_recurrent_shapes_follow_the_options():
    shapes = {name: validate(single_layer_document(name)).shapes["layer"].shape for name in ("rnn", "lstm", "gru")}
    assert shapes == {"rnn": (6, 5), "lstm": (10,), "gru": (6, 10)}
