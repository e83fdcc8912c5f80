"""dlbuilder's MaxPool2d: nn.MaxPool2d's values and gradients, a faster CPU forward where autograd records nothing."""

from __future__ import annotations

import contextlib

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from dlbuilder import modules
from dlbuilder.compile import compile_graph
from dlbuilder.export import export_onnx, python_source
from dlbuilder.export.python_source import class_name
from dlbuilder.presets import PRESETS
from dlbuilder.training.trainer import Trainer

SHAPES = [(512, 6, 8, 8), (64, 16, 4, 4), (40, 3, 7, 9), (37, 2, 5, 6), (1, 8, 31, 33), (300, 5, 2, 3),
          (12, 29, 29)]  # odd sizes crop; batch 1; a 3-D (C, H, W) input


@contextlib.contextmanager
def parent_forward_forbidden(monkeypatch):
    """Inside, nn.MaxPool2d's own forward raises: proves the element-wise path ran."""
    with monkeypatch.context() as patch:
        def refuse(self, x):
            raise AssertionError("nn.MaxPool2d.forward ran where the element-wise path was expected")
        patch.setattr(nn.MaxPool2d, "forward", refuse)
        yield


def parent_calls(monkeypatch) -> list:
    """Records every call of nn.MaxPool2d's own forward (then runs it)."""
    calls, original = [], nn.MaxPool2d.forward

    def counting(self, x):
        calls.append(tuple(x.shape))
        return original(self, x)
    monkeypatch.setattr(nn.MaxPool2d, "forward", counting)
    return calls


def assert_identical(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_fast_forward_gives_nn_maxpool2d_values_exactly(shape, dtype, monkeypatch):
    torch.manual_seed(sum(shape))
    x = torch.randn(shape, dtype=dtype)
    x.view(-1)[::97] = float("nan")  # NaN wins its window in both
    x.view(-1)[5::89] = float("-inf")
    x.view(-1)[7::53] = 0.0  # ties, as after a ReLU
    expected = nn.MaxPool2d(2)(x)
    monkeypatch.setattr(modules.MaxPool2d, "fast_min_values", 0)  # small inputs too
    with parent_forward_forbidden(monkeypatch), torch.no_grad():
        assert_identical(modules.MaxPool2d(2)(x), expected)
        assert_identical(modules.MaxPool2d((2, 2), stride=(2, 2), padding=(0, 0))(x), expected)
    with parent_forward_forbidden(monkeypatch):  # an input without requires_grad records nothing either
        assert_identical(modules.MaxPool2d(2, stride=2, padding=0)(x), expected)
    with parent_forward_forbidden(monkeypatch), torch.inference_mode():
        assert_identical(modules.MaxPool2d(2)(x), expected)


def test_small_inputs_keep_the_single_kernel(monkeypatch):
    calls = parent_calls(monkeypatch)
    pool = modules.MaxPool2d(2)
    small = torch.randn(2, 6, 8, 8)  # 768 values: the single kernel is faster
    large = torch.randn(512, 6, 8, 8)
    with torch.no_grad():
        assert_identical(pool(small), nn.functional.max_pool2d(small, 2))
        assert_identical(pool(large), nn.functional.max_pool2d(large, 2))
    assert calls == [(2, 6, 8, 8)]


@pytest.mark.parametrize("shape", [(512, 6, 8, 8), (40, 3, 7, 9), (1, 8, 31, 33)])
def test_training_takes_nn_maxpool2d_path_and_gradients(shape, monkeypatch):
    torch.manual_seed(1)
    x = torch.randn(shape)  # continuous values: no ties
    x.view(-1)[::11] = 0.0  # and some ties, where nn.MaxPool2d gives one element the whole gradient
    weights = torch.randn(nn.MaxPool2d(2)(x).shape)
    grads = []
    for pool in (nn.MaxPool2d(2), modules.MaxPool2d(2)):
        leaf = x.clone().requires_grad_()
        out = pool(leaf)
        (out * weights).sum().backward()
        grads.append((out.detach(), leaf.grad))
    calls = parent_calls(monkeypatch)
    modules.MaxPool2d(2)(x.clone().requires_grad_())
    assert calls == [shape]
    assert_identical(grads[1][0], grads[0][0])
    assert_identical(grads[1][1], grads[0][1])


def test_the_element_wise_form_has_the_same_gradient_without_ties_and_splits_ties():
    torch.manual_seed(2)
    x = torch.randn(64, 4, 9, 8, dtype=torch.float64)  # continuous values: no ties
    weights = torch.randn(64, 4, 4, 4, dtype=torch.float64)
    grads = []
    for function in (modules.MaxPool2d.max_of_pairs, lambda t: nn.functional.max_pool2d(t, 2)):
        leaf = x.clone().requires_grad_()
        (function(leaf) * weights).sum().backward()
        grads.append(leaf.grad)
    assert torch.equal(grads[0], grads[1])
    leaf = torch.zeros(1, 1, 2, 2, requires_grad=True)  # one window, four equal values
    modules.MaxPool2d.max_of_pairs(leaf).sum().backward()
    assert leaf.grad.flatten().tolist() == [0.25] * 4  # why training keeps nn.MaxPool2d's path
    leaf = torch.zeros(1, 1, 2, 2, requires_grad=True)
    nn.MaxPool2d(2)(leaf).sum().backward()
    assert sorted(leaf.grad.flatten().tolist()) == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("arguments", [
    dict(kernel_size=3, stride=2), dict(kernel_size=2, stride=2, padding=1), dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=2, stride=1), dict(kernel_size=2, dilation=2), dict(kernel_size=3), dict(kernel_size=(2, 3)),
])
def test_other_settings_fall_back_to_nn_maxpool2d(arguments, monkeypatch):
    x = torch.randn(512, 6, 9, 9)
    with torch.no_grad():
        expected = nn.MaxPool2d(**arguments)(x)
        calls = parent_calls(monkeypatch)
        assert_identical(modules.MaxPool2d(**arguments)(x), expected)
    assert calls == [(512, 6, 9, 9)]


def test_return_indices_falls_back():
    x = torch.randn(512, 6, 8, 8)
    with torch.no_grad():
        values, indices = modules.MaxPool2d(2, return_indices=True)(x)
        expected_values, expected_indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert_identical(values, expected_values)
    assert torch.equal(indices, expected_indices)


def test_it_stays_an_nn_maxpool2d():
    pool = modules.MaxPool2d(2, stride=2, padding=0)
    reference = nn.MaxPool2d(2, stride=2, padding=0)
    assert isinstance(pool, nn.MaxPool2d)
    assert repr(pool) == repr(reference) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert pool.state_dict() == {}


def test_tracing_records_one_max_pool():
    x = torch.randn(512, 6, 8, 8)
    with torch.no_grad():
        traced = torch.jit.trace(modules.MaxPool2d(2), x)
    kinds = [node.kind() for node in traced.graph.nodes()]
    assert "aten::max_pool2d" in kinds and "aten::maximum" not in kinds


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_the_gpu_it_is_nn_maxpool2d(monkeypatch):
    x = torch.randn(512, 6, 9, 8, device="cuda")
    calls = parent_calls(monkeypatch)
    with torch.no_grad():
        assert_identical(modules.MaxPool2d(2).cuda()(x), nn.MaxPool2d(2)(x))
    assert calls == [(512, 6, 9, 8)]
    assert_identical(modules.MaxPool2d.max_of_pairs(x).cpu(), nn.MaxPool2d(2)(x.cpu()))


# -- the lenet preset ----------------------------------------------------------------------------

def train_lenet(epochs: int):
    document = PRESETS["lenet"].load()
    document.training["epochs"] = epochs
    trainer = Trainer(document, device="cpu")
    while trainer.step():
        pass
    trainer.flush()
    return trainer


def test_lenet_trains_exactly_as_with_nn_maxpool2d(monkeypatch):
    fast = train_lenet(2)
    pools = [m for m in fast.setup.model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 2 and all(type(m) is modules.MaxPool2d for m in pools)
    losses = [record.train_loss for record in fast.metrics.epochs()]
    assert losses[-1] < losses[0] * 0.7  # it learns
    monkeypatch.setattr(modules.MaxPool2d, "fast_min_values", float("inf"))  # the old path everywhere
    slow = train_lenet(2)
    for mine, theirs in zip(fast.metrics.epochs(), slow.metrics.epochs(), strict=True):
        assert (mine.train_loss, mine.val_loss, mine.train_metric, mine.val_metric) == \
            (theirs.train_loss, theirs.val_loss, theirs.train_metric, theirs.val_metric)
    for name, value in fast.setup.model.state_dict().items():
        assert torch.equal(value, slow.setup.model.state_dict()[name]), name


def test_a_compiled_lenet_exports_to_onnx_and_python_source(monkeypatch):
    document = PRESETS["lenet"].load()
    torch.manual_seed(0)
    model = compile_graph(document).eval()
    inputs = model.example_inputs(batch=64, seed=3)  # 64 x 6 x 8 x 8 values: the element-wise path
    with parent_forward_forbidden(monkeypatch), torch.no_grad():
        expected = model(*inputs)
    data = export_onnx(model)
    proto = onnx.load_from_string(data)
    assert [n.op_type for n in proto.graph.node].count("MaxPool") == 2
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {name: t.numpy() for name, t in zip(model.input_ids, inputs)})
    assert np.abs(actual - expected.numpy()).max() <= 1e-5
    source = python_source(document)
    assert "self.pool1 = MaxPool2d(2, stride=2, padding=0)" in source and "class MaxPool2d(nn.MaxPool2d):" in source
    namespace: dict = {"__name__": "exported"}
    exec(compile(source, "exported.py", "exec"), namespace)  # imports only torch (tests/test_export.py checks)
    exported = namespace[class_name(document.name)]()
    exported.load_state_dict(model.state_dict(), strict=True)
    with parent_forward_forbidden(monkeypatch), torch.no_grad():
        assert torch.equal(exported.eval()(*inputs), expected)
