"""Compiled networks against hand-written PyTorch, plus capture of outputs and attention."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from dlbuilder.compile import GraphModel, compile_graph
from dlbuilder.document import load_document
from dlbuilder.presets import PRESETS
from dlbuilder.validation import InvalidNetwork
from tests.networks import single_layer_document


def compiled(name: str, seed: int = 0) -> GraphModel:
    torch.manual_seed(seed)
    return compile_graph(PRESETS[name].load()).eval()


def copy_weights_by_position(source: nn.Module, target: nn.Module) -> None:
    """Load `source`'s tensors into `target` in order; shapes and counts must match exactly."""
    values = list(source.state_dict().values())
    keys = list(target.state_dict())
    assert len(values) == len(keys), (list(source.state_dict()), keys)
    target.load_state_dict(dict(zip(keys, values)), strict=True)


def assert_same_outputs(model: GraphModel, reference: nn.Module, batch: int = 5) -> None:
    copy_weights_by_position(model, reference)
    reference.eval()
    inputs = model.example_inputs(batch=batch, seed=3)
    with torch.no_grad():
        expected, actual = reference(*inputs), model(*inputs)
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, atol=1e-6), (actual - expected).abs().max()


# --- reference tests -------------------------------------------------------------------------

def test_playground_equals_sequential():
    reference = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2), nn.Tanh(), nn.Linear(2, 1))
    assert_same_outputs(compiled("playground"), reference)


def test_deep_mlp_equals_sequential():
    layers = [nn.Linear(2, 16), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Linear(16, 16), nn.ReLU()]
    reference = nn.Sequential(*layers, nn.Linear(16, 2))
    assert_same_outputs(compiled("deep_mlp"), reference)


def test_lenet_equals_sequential():
    reference = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    assert_same_outputs(compiled("lenet"), reference)


def test_autoencoder_equals_sequential():
    reference = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2), nn.Linear(2, 32), nn.ReLU(),
        nn.Linear(32, 64), nn.Unflatten(1, (1, 8, 8)), nn.Sigmoid())
    model = compiled("autoencoder")
    assert_same_outputs(model, reference)
    assert model(*model.example_inputs(2)).shape == (2, 1, 8, 8)


class ResidualReference(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense1, self.dense2, self.dense3 = nn.Linear(2, 16), nn.Linear(16, 16), nn.Linear(16, 16)
        self.output = nn.Linear(16, 2)

    def forward(self, x):
        h = torch.relu(self.dense1(x))
        return self.output(torch.relu(h + self.dense3(torch.relu(self.dense2(h)))))


def test_residual_equals_hand_written_skip_connection():
    assert_same_outputs(compiled("residual"), ResidualReference())


class LstmReference(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.output = nn.Linear(32, 10)

    def forward(self, x):
        _, (hidden, _) = self.lstm(x.reshape(x.shape[0], 8, 8))  # rows as time steps
        return self.output(hidden[-1])


def test_lstm_equals_hand_written_last_state_classifier():
    assert_same_outputs(compiled("lstm"), LstmReference())


def test_print_model_lists_node_ids_in_order():
    text = str(compiled("lenet"))
    positions = [text.index(f"({node_id}): ") for node_id in
                 ("conv1", "pool1", "conv2", "pool2", "flatten", "dense1", "output")]
    assert positions == sorted(positions)
    assert "(input)" not in text  # inputs have no module
    assert dict(compiled("residual").named_children()).keys() == {
        "dense1", "dense2", "dense3", "add", "relu", "output"}


def test_compile_is_reproducible_under_a_seed_and_trains():
    first, second = compiled("residual", seed=7), compiled("residual", seed=7)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    model = compiled("residual").train()
    x = model.example_inputs(8)[0]
    loss = nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_wrong_number_of_inputs_is_a_clear_error():
    model = compiled("seq2seq")
    with pytest.raises(TypeError, match=r"takes 2 input\(s\) \(source, target\), got 1"):
        model(model.example_inputs(2)[0])


def test_example_inputs_follow_the_input_specs():
    model = compiled("seq2seq")
    source, target = model.example_inputs(batch=4)
    assert source.shape == (4, 29) and target.shape == (4, 11) and source.dtype == torch.long  # date_translation
    assert 0 <= int(source.min()) and int(source.max()) < 45 and int(target.max()) < 15
    assert torch.equal(model.example_inputs(4, seed=1)[0], model.example_inputs(4, seed=1)[0])
    assert model.input_ids == ["source", "target"]


# --- capture ---------------------------------------------------------------------------------

def test_capture_records_only_the_chosen_nodes():
    model = compiled("residual")
    (x,) = model.example_inputs(3)
    with torch.no_grad(), model.capture(["dense1", "add"]) as captured:
        prediction = model(x)
    assert set(captured.outputs) == {"dense1", "add"}
    dense1 = torch.relu(model.dense1[0](x))
    assert torch.allclose(captured.outputs["dense1"], dense1)
    assert torch.allclose(captured.outputs["add"], dense1 + model.dense3(model.dense2(dense1)), atol=1e-6)
    assert torch.allclose(model.output(torch.relu(captured.outputs["add"])), prediction, atol=1e-6)


def test_capture_all_nodes_includes_inputs():
    model = compiled("playground")
    (x,) = model.example_inputs(2)
    with model.capture() as captured:
        model(x)
    assert set(captured.outputs) == {"input", "dense1", "dense2", "output"}
    assert torch.equal(captured.outputs["input"], x)
    assert not captured.outputs["dense1"].requires_grad  # detached


def test_capture_of_unknown_node_raises_key_error():
    model = compiled("playground")
    with pytest.raises(KeyError, match="ghost"):
        with model.capture(["dense1", "ghost"]):
            pass
    assert model._capture is None


def test_seq2seq_attention_weights_match_scaled_dot_product():
    model = compiled("seq2seq")
    source, target = model.example_inputs(batch=3)
    source = source.clamp(min=1)  # no padding (id 0): the source's mask edge blocks no key
    with torch.no_grad(), model.capture(["encoder", "decoder", "attention", "join"]) as captured:
        prediction = model(source, target)
    weights = captured.attention["attention"]
    assert weights.shape == (3, 1, 11, 29)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 1, 11), atol=1e-5)
    # softmax(Q K^T / sqrt(d)) from the decoder (queries) over the encoder (memory)
    attention = model.attention.attention
    wq, wk, wv = attention.in_proj_weight.chunk(3)
    bq, bk, bv = attention.in_proj_bias.chunk(3)
    queries = captured.outputs["decoder"] @ wq.T + bq
    keys = captured.outputs["encoder"] @ wk.T + bk
    expected = torch.softmax(queries @ keys.transpose(1, 2) / math.sqrt(64), dim=-1)
    assert torch.allclose(weights[:, 0], expected, atol=1e-5)
    mixed = expected @ (captured.outputs["encoder"] @ wv.T + bv)
    attended = attention.out_proj(mixed)
    assert torch.allclose(captured.outputs["attention"], attended, atol=1e-5)
    # Concat joins attention (slot 0) then decoder (slot 1)
    joined = torch.cat([attended, captured.outputs["decoder"]], dim=-1)
    assert torch.allclose(captured.outputs["join"], joined, atol=1e-5)
    assert torch.allclose(model.output(model.combine(joined)), prediction, atol=1e-5)


def test_causal_self_attention_never_looks_ahead():
    torch.manual_seed(0)
    model = compile_graph(single_layer_document("self_attention")).eval()
    with torch.no_grad(), model.capture([]) as captured:
        model(*model.example_inputs(2))
    weights = captured.attention["layer"]
    assert weights.shape == (2, 2, 6, 6)  # (B, heads, T, T)
    assert torch.all(weights.triu(1) == 0) and torch.all(weights.diagonal(dim1=-2, dim2=-1) > 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 6), atol=1e-5)
    assert captured.outputs == {}


def test_capture_without_attention():
    model = compiled("seq2seq")
    with model.capture(["join"], attention=False) as captured:
        model(*model.example_inputs(2))
    assert captured.attention == {} and set(captured.outputs) == {"join"}


def test_nothing_is_kept_after_the_capture_block():
    model = compiled("seq2seq")
    inputs = model.example_inputs(2)
    with model.capture() as captured:
        model(*inputs)
    recorded = (dict(captured.outputs), dict(captured.attention))
    assert recorded[1] and recorded[0]
    model(*inputs)  # a forward after the block records nothing anywhere
    assert (captured.outputs.keys(), captured.attention.keys()) == (recorded[0].keys(), recorded[1].keys())
    assert all(torch.equal(captured.outputs[k], v) for k, v in recorded[0].items())
    assert model._capture is None and model._capture_ids == set()
    for module in model.attention_layers().values():
        assert module.keep_weights is False and module.last_weights is None


def test_capture_is_cleaned_up_after_an_error():
    model = compiled("seq2seq")
    with pytest.raises(RuntimeError, match="boom"):
        with model.capture():
            model(*model.example_inputs(2))
            raise RuntimeError("boom")
    assert model._capture is None
    assert all(m.last_weights is None and not m.keep_weights for m in model.attention_layers().values())


# --- invalid networks ------------------------------------------------------------------------

def test_invalid_network_lists_every_problem():
    raw = copy.deepcopy(PRESETS["residual"].document)
    nodes = {n["id"]: n for n in raw["network"]["nodes"]}
    nodes["dense2"]["params"]["units"] = "eight"
    raw["network"]["edges"].append({"source": "relu", "target": "relu", "slot": 1})
    raw["network"]["nodes"].append({"id": "lonely", "type": "dense"})
    with pytest.raises(InvalidNetwork) as caught:
        compile_graph(load_document(raw))
    assert sorted((p.check, p.node) for p in caught.value.problems) == [
        ("arity", "lonely"), ("edges", "relu"), ("params", "dense2")]
    for node_id in ("lonely", "relu", "dense2"):
        assert f"{node_id}: " in str(caught.value)


# --- GPU -------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_cuda_model_matches_cpu(name):
    cpu = compiled(name)
    gpu = compile_graph(PRESETS[name].load(), device="cuda").eval()
    assert all(p.device.type == "cuda" for p in gpu.parameters())
    gpu.load_state_dict(cpu.state_dict())
    inputs = cpu.example_inputs(4)
    gpu_inputs = gpu.example_inputs(4)
    assert all(t.device.type == "cuda" for t in gpu_inputs)
    assert all(torch.equal(a, b.cpu()) for a, b in zip(inputs, gpu_inputs))
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad(), gpu.capture() as captured:
            actual = gpu(*gpu_inputs)
            expected = cpu(*inputs)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    assert actual.device.type == "cuda"
    assert torch.allclose(actual.cpu(), expected, atol=1e-4), (actual.cpu() - expected).abs().max()
    for weights in captured.attention.values():
        assert weights.device.type == "cuda"
