"""Positional encoding, padding masks in attention, a small transformer encoder, and the sequence probes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from dlbuilder.compile import GraphModel, compile_graph
from dlbuilder.document import load_document
from dlbuilder.export import export_onnx, python_source
from dlbuilder.export.python_source import class_name
from dlbuilder.inspection.attention import (MAX_EXAMPLES, attention_maps, embedding_projection, hidden_states,
                                            timestep_gradient_norms)
from dlbuilder.inspection.unrolled import unrolled_recurrent
from dlbuilder.modules import CrossAttention, PositionalEncoding, Recurrent, SelfAttention
from dlbuilder.validation import validate
from dlbuilder.validation.resources import training_values
from tests.networks import document_dict
from tests.test_export import DRIVER

VOCAB, TAGS, DIM = 20, 5, 16


def encoder_document(steps: int = 8, kind: str = "sinusoidal", max_length: int = 0, mask: bool = True,
                     heads: int = 2, causal: bool = False):
    """Embedding -> PositionalEncoding -> SelfAttention -> Add -> LayerNorm -> Dense -> Dense -> Add -> LayerNorm."""
    nodes = [
        {"id": "tokens", "type": "input", "params": {"shape": [steps], "dtype": "tokens", "vocab_size": VOCAB}},
        {"id": "embed", "type": "embedding", "params": {"dim": DIM}},
        {"id": "position", "type": "positional_encoding", "params": {"kind": kind, "max_length": max_length}},
        {"id": "attention", "type": "self_attention", "params": {"num_heads": heads, "causal": causal}},
        {"id": "residual1", "type": "add"}, {"id": "norm1", "type": "layernorm"},
        {"id": "ff1", "type": "dense", "params": {"units": 32, "activation": "relu"}},
        {"id": "ff2", "type": "dense", "params": {"units": DIM, "activation": "identity"}},
        {"id": "residual2", "type": "add"}, {"id": "norm2", "type": "layernorm"},
        {"id": "output", "type": "output", "params": {"task": "classification", "units": TAGS}},
    ]
    edges = [("tokens", "embed", 0), ("embed", "position", 0), ("position", "attention", 0),
             ("position", "residual1", 0), ("attention", "residual1", 1), ("residual1", "norm1", 0),
             ("norm1", "ff1", 0), ("ff1", "ff2", 0), ("norm1", "residual2", 0), ("ff2", "residual2", 1),
             ("residual2", "norm2", 0), ("norm2", "output", 0)]
    if mask:
        edges.append(("tokens", "attention", 1))
    return load_document(document_dict(nodes, edges, name="tiny transformer"))


def compiled(document, seed: int = 0) -> GraphModel:
    torch.manual_seed(seed)
    return compile_graph(document)


def padded_tokens(lengths: list[int], steps: int, seed: int = 0) -> torch.Tensor:
    """(B, steps) ids: random real tokens (1..VOCAB-1) for each length, then padding (0)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(len(lengths), steps, dtype=torch.long)
    for row, length in enumerate(lengths):
        tokens[row, :length] = torch.randint(1, VOCAB, (length,), generator=generator)
    return tokens


def masked_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over real positions only; the tag of a token is its id mod TAGS."""
    real = tokens != 0
    return F.cross_entropy(logits[real], (tokens % TAGS)[real])


# --- positional encoding ------------------------------------------------------------------

def test_sinusoids_follow_the_formula():
    steps, features = 50, 7  # odd F: the last column is a sine without its cosine
    table = PositionalEncoding.sinusoids(steps, features).numpy()
    position = np.arange(steps)[:, None]
    expected = np.zeros((steps, features))
    for column in range(features):
        angle = position[:, 0] / 10000 ** ((column - column % 2) / features)
        expected[:, column] = np.sin(angle) if column % 2 == 0 else np.cos(angle)
    assert table.shape == (steps, features)
    assert np.abs(table - expected).max() < 1e-4


def test_sinusoidal_layer_adds_the_table_and_has_no_parameters():
    model = compiled(encoder_document(kind="sinusoidal")).eval()
    report = validate(encoder_document(kind="sinusoidal"))
    assert report.param_counts["position"] == 0
    assert report.shapes["position"].shape == (8, DIM)
    with torch.no_grad(), model.capture(["embed", "position"]) as captured:
        model(padded_tokens([8, 5], 8))
    added = captured.outputs["position"] - captured.outputs["embed"]
    assert torch.allclose(added, PositionalEncoding.sinusoids(8, DIM).expand(2, -1, -1), atol=1e-6)


def test_learned_table_trains_only_the_rows_it_sees():
    document = encoder_document(steps=6, kind="learned", max_length=10)
    assert validate(document).param_counts["position"] == 10 * DIM
    model = compiled(document).train()
    before = model.position.table.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    tokens = padded_tokens([6, 6, 6], 6)
    for _ in range(3):
        optimizer.zero_grad()
        masked_loss(model(tokens), tokens).backward()
        optimizer.step()
    moved = (model.position.table.detach() - before).abs().amax(dim=1)
    assert (moved[:6] > 1e-3).all()  # positions 0..5 learned something
    assert (moved[6:] == 0).all()  # positions never seen stay as they were


def test_max_length_refuses_a_longer_input_and_names_the_fix():
    report = validate(encoder_document(steps=12, kind="learned", max_length=10))
    (problem,) = report.problems
    assert (problem.check, problem.node) == ("shape", "position")
    assert "12 steps but max_length is 10" in problem.message and "set max_length to 12" in problem.message
    with pytest.raises(ValueError, match="longer than max_length=4"):
        PositionalEncoding("sinusoidal", 4, 3)(torch.zeros(1, 5, 3))


# --- padding masks --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_padding_changes_neither_real_outputs_nor_gradients(kind):
    """The same sentences padded to 8 or to 5 steps: equal outputs at real steps, equal gradients."""
    long, short = (compiled(encoder_document(steps, kind, max_length=8)).eval() for steps in (8, 5))
    short.load_state_dict(long.state_dict())
    lengths = [5, 3, 1]
    tokens_long = padded_tokens(lengths, 8)
    tokens_short = tokens_long[:, :5]
    out_long, out_short = long(tokens_long), short(tokens_short)
    real = tokens_short != 0
    assert torch.allclose(out_long[:, :5][real], out_short[real], atol=1e-5)
    masked_loss(out_long, tokens_long).backward()
    masked_loss(out_short, tokens_short).backward()
    for (name, a), (_, b) in zip(long.named_parameters(), short.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name
    assert long.embed.weight.grad[0].abs().max() == 0  # the padding token's vector never matters


@pytest.mark.parametrize("causal", [False, True])
def test_inference_fast_path_masks_like_the_training_path(causal):
    """Eval + no_grad lets nn.MultiheadAttention take its fused path; the mask must act the same there."""
    model = compiled(encoder_document(causal=causal)).eval()
    tokens = padded_tokens([8, 5, 2, 0], 8)  # the last example is nothing but padding
    with torch.no_grad():
        fused = model(tokens)
    plain = model(tokens).detach()
    assert torch.isfinite(fused).all() and torch.allclose(fused, plain, atol=1e-5)


def test_what_padding_steps_hold_does_not_matter():
    torch.manual_seed(1)
    attention, cross = SelfAttention(8, 2), CrossAttention(8, 6, 2)
    tokens = padded_tokens([4, 6, 2], 6)
    pad = (tokens == 0).unsqueeze(-1)
    x, memory, query = torch.randn(3, 6, 8), torch.randn(3, 6, 6), torch.randn(3, 5, 8)
    results = []
    for noise in (0.0, 100.0):
        attention.zero_grad(), cross.zero_grad()
        xs = x + noise * pad * torch.randn_like(x)
        out = attention(xs, tokens)
        crossed = cross(query, memory + noise * pad * torch.randn_like(memory), tokens)
        (out[~pad.squeeze(-1)].square().sum() + crossed.square().sum()).backward()
        grads = [p.grad.clone() for p in [*attention.parameters(), *cross.parameters()]]
        results.append((out[~pad.squeeze(-1)].detach(), crossed.detach(), grads))
    (a, b, grads_a), (c, d, grads_c) = results
    assert torch.allclose(a, c, atol=1e-5) and torch.allclose(b, d, atol=1e-5)
    assert all(torch.allclose(g, h, atol=1e-4) for g, h in zip(grads_a, grads_c))


def test_no_row_is_empty_even_with_causal_left_padding_or_an_all_padding_memory():
    torch.manual_seed(2)
    attention = SelfAttention(4, 1, causal=True)
    attention.keep_weights = True
    tokens = torch.tensor([[0, 0, 3, 4], [0, 0, 0, 0]])  # left padding: early rows see only padding
    out = attention(torch.randn(2, 4, 4), tokens)
    assert torch.isfinite(out).all()
    weights = attention.last_weights[:, 0]
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4))
    assert torch.all(weights.triu(1) == 0)  # still causal
    assert torch.all(weights[0, 2:, :2] == 0)  # real steps ignore the padding
    assert torch.equal(weights[0, :2, :2], torch.eye(2)) and torch.equal(weights[1], torch.eye(4))  # padding: itself
    cross = CrossAttention(4, 4, 1)
    cross.keep_weights = True
    out = cross(torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.zeros(1, 3, dtype=torch.long))
    assert torch.isfinite(out).all() and torch.allclose(cross.last_weights.sum(-1), torch.ones(1, 1, 2))


def test_mask_input_must_be_the_matching_token_ids():
    raw = encoder_document().to_dict()
    raw["network"]["edges"] = [e for e in raw["network"]["edges"] if e["target"] != "attention"] + [
        {"source": "position", "target": "attention", "slot": 0},
        {"source": "embed", "target": "attention", "slot": 1}]
    (problem,) = validate(load_document(raw)).problems
    assert problem.node == "attention" and "input 2 is the padding mask and must be token ids" in problem.message


def test_mask_of_another_length_names_the_fix():
    raw = document_dict(
        [{"id": "source", "type": "input", "params": {"shape": [6], "dtype": "tokens", "vocab_size": VOCAB}},
         {"id": "target", "type": "input", "params": {"shape": [4], "dtype": "tokens", "vocab_size": VOCAB}},
         {"id": "embed", "type": "embedding", "params": {"dim": 6}},
         {"id": "cross", "type": "cross_attention", "params": {}},
         {"id": "output", "type": "output", "params": {"task": "regression", "units": 3}}],
        [("source", "embed", 0), ("embed", "cross", 0), ("embed", "cross", 1), ("target", "cross", 2),
         ("cross", "output", 0)])
    (problem,) = validate(load_document(raw)).problems
    assert problem.node == "cross"
    assert "input 3 has 4 token ids but the memory has 6 steps: connect the token Input" in problem.message


def test_training_memory_counts_the_new_layer_and_the_mask():
    with_mask, without = encoder_document(), encoder_document(mask=False)
    kept = training_values(with_mask, validate(with_mask))
    assert kept["position"] == 8 * DIM
    assert kept["attention"] - training_values(without, validate(without))["attention"] == 2 * 8 * 8


# --- the transformer encoder block ------------------------------------------------------------

def test_transformer_block_trains_on_random_tokens():
    model = compiled(encoder_document()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    tokens = padded_tokens([8, 7, 6, 5, 8, 4, 8, 3] * 2, 8, seed=3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = masked_loss(model(tokens), tokens)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses


def test_transformer_block_exports_to_standalone_python_and_onnx(tmp_path):
    document = encoder_document()
    model = compiled(document).eval()
    tokens = padded_tokens([8, 5, 2], 8, seed=4)
    with torch.no_grad():
        expected = model(tokens)
    source = python_source(document)
    assert "        attention = self.attention(position, tokens)  # (B, 8, 16)" in source
    (tmp_path / "case.py").write_text(source)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "case.safetensors")
    save_file({"input0": tokens, "expected": expected}, tmp_path / "case_io.safetensors")
    (tmp_path / "manifest.json").write_text(json.dumps([{"case": "case", "class": class_name(document.name),
                                                         "inputs": 1}]))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert "error" not in result["case"], result["case"]["error"]
    assert result["case"]["max_diff"] <= 1e-5 and result["dlbuilder_imported"] is False
    session = onnxruntime.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"tokens": tokens.numpy()})
    assert np.abs(actual - expected.numpy()).max() <= 1e-4


def test_cross_attention_mask_exports_to_onnx():
    raw = document_dict(
        [{"id": "source", "type": "input", "params": {"shape": [6], "dtype": "tokens", "vocab_size": VOCAB}},
         {"id": "target", "type": "input", "params": {"shape": [4, 8]}},
         {"id": "embed", "type": "embedding", "params": {"dim": 6}},
         {"id": "cross", "type": "cross_attention", "params": {"num_heads": 2}},
         {"id": "output", "type": "output", "params": {"task": "regression", "units": 3}}],
        [("source", "embed", 0), ("target", "cross", 0), ("embed", "cross", 1), ("source", "cross", 2),
         ("cross", "output", 0)])
    model = compiled(load_document(raw)).eval()
    tokens, queries = padded_tokens([6, 2, 0], 6, seed=5), torch.randn(3, 4, 8)
    with torch.no_grad():
        expected = model(tokens, queries).numpy()
    assert np.isfinite(expected).all()
    session = onnxruntime.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"source": tokens.numpy(), "target": queries.numpy()})
    assert np.abs(actual - expected).max() <= 1e-4


# --- probes -------------------------------------------------------------------------------------

def test_attention_maps_are_per_head_rows_of_one_over_real_keys():
    model = compiled(encoder_document(heads=2)).train()
    example = padded_tokens([5], 8)[0]
    (found,) = attention_maps(model, example)
    assert found.node == "attention" and found.kind == "self" and found.weights.shape == (2, 8, 8)
    assert found.query_input == found.key_input == "tokens"
    assert found.query_tokens.tolist() == found.key_tokens.tolist() == example.tolist()
    assert found.key_padding.tolist() == [False] * 5 + [True] * 3
    assert np.allclose(found.weights.sum(-1), 1, atol=1e-5)
    assert np.all(found.weights[:, :5, 5:] == 0)  # real queries never look at padding
    assert not np.allclose(found.weights[0], found.weights[1])  # two heads, two patterns
    # the probe put the model back in training mode, and training forwards keep no weights
    assert model.training and model.attention.keep_weights is False
    model(padded_tokens([8], 8))
    assert model.attention.last_weights is None


def recurrent_document(cell: str, steps: int = 10, hidden: int = 4, **params):
    raw = document_dict(
        [{"id": "input", "type": "input", "params": {"shape": [steps, 2]}},
         {"id": "rnn", "type": cell, "params": {"hidden_size": hidden, **params}},
         {"id": "output", "type": "output", "params": {"task": "regression", "units": 1}}],
        [("input", "rnn", 0), ("rnn", "output", 0)])
    return load_document(raw)


def test_hidden_states_are_every_step_of_the_top_layer():
    model = compiled(recurrent_document("lstm", hidden=5, bidirectional=True, num_layers=2,
                                        return_sequences=False)).eval()
    example = torch.randn(10, 2)
    states = hidden_states(model, example, "rnn")
    assert states.shape == (10, 10)
    with torch.no_grad(), model.capture(["rnn"]) as captured:
        model(example[None])
    final = captured.outputs["rnn"][0].numpy()  # forward direction ends at t=9, backward at t=0
    assert np.allclose(states[-1, :5], final[:5], atol=1e-6) and np.allclose(states[0, 5:], final[5:], atol=1e-6)
    with pytest.raises(ValueError, match="not a recurrent node"):
        hidden_states(model, example, "output")
    with pytest.raises(ValueError, match=r"must have shape \[10, 2\]"):
        hidden_states(model, torch.randn(9, 2), "rnn")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_unrolled_forward_equals_the_fused_one(cell):
    torch.manual_seed(3)
    for bidirectional in (False, True):
        for return_sequences in (False, True):
            module = Recurrent(cell, 3, 4, num_layers=2, bidirectional=bidirectional,
                               return_sequences=return_sequences).eval()
            x = torch.randn(2, 7, 3)
            output, top = unrolled_recurrent(module, x)
            assert torch.allclose(output, module(x), atol=1e-6)
            assert len(top) == (2 if bidirectional else 1) and len(top[0]) == 7


def test_gradient_norms_vanish_back_through_a_small_tanh_rnn():
    """h_t = tanh(W x_t + 0.5 h_(t-1)): each step back multiplies the gradient by at most 0.5."""
    model = compiled(recurrent_document("rnn", return_sequences=False)).train()
    rnn = model.rnn.rnn
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.5 * torch.eye(4))
        rnn.weight_ih_l0.copy_(torch.tensor([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2], [0.2, 0.2]]))
        rnn.bias_ih_l0.zero_(), rnn.bias_hh_l0.zero_()
        model.output.weight.fill_(1.0), model.output.bias.zero_()
    inputs = torch.randn(8, 10, 2, generator=torch.Generator().manual_seed(0))
    targets = torch.full((8, 1), 3.0)
    norms = timestep_gradient_norms(model, inputs, targets, "mse", "rnn")
    assert norms.shape == (10,) and model.training
    assert all(p.grad is None for p in model.parameters())  # the probe leaves .grad alone
    assert np.all(norms[:-1] <= 0.5 * norms[1:] + 1e-12) and norms[0] > 0
    # against the chain rule by hand: g_(t-1) = W_hh^T (g_t * (1 - h_t^2)), g_9 = dLoss/dprediction
    states = np.stack([hidden_states(model, example, "rnn") for example in inputs])  # (B, T, H)
    prediction = states[:, -1].sum(axis=1, keepdims=True)
    grad = np.repeat(2 * (prediction - 3.0) / 8, 4, axis=1)  # mse over 8 values, output weights 1
    expected = [np.linalg.norm(grad)]
    for t in range(9, 0, -1):
        grad = (grad * (1 - states[:, t] ** 2)) @ (0.5 * np.eye(4))
        expected.append(np.linalg.norm(grad))
    assert np.allclose(norms, expected[::-1], rtol=1e-4)


def test_gradient_norms_bound_their_batch_and_check_the_loss():
    model = compiled(recurrent_document("gru")).eval()
    with pytest.raises(ValueError, match=f"N from 1 to {MAX_EXAMPLES}"):
        timestep_gradient_norms(model, torch.zeros(MAX_EXAMPLES + 1, 10, 2), torch.zeros(MAX_EXAMPLES + 1, 10, 1),
                                "mse", "rnn")
    with pytest.raises(ValueError, match="one number"):
        timestep_gradient_norms(model, torch.zeros(2, 10, 2), torch.zeros(2, 10, 1),
                                nn.MSELoss(reduction="none"), "rnn")
    norms = timestep_gradient_norms(model, torch.randn(3, 10, 2), torch.zeros(3, 10, 1), "mse", "rnn")
    assert norms.shape == (10,) and np.all(norms > 0) and not model.training


def test_embedding_projection_is_pca_of_the_chosen_vectors():
    model = compiled(encoder_document())
    projection = embedding_projection(model, "embed", [1, 2, 3, 5, 8, 13])
    assert projection.coordinates.shape == (6, 2) and projection.token_ids.tolist() == [1, 2, 3, 5, 8, 13]
    assert np.all(np.diff(projection.explained) <= 0) and 0 < projection.explained.sum() <= 1 + 1e-9
    vectors = model.embed.weight.detach()[[1, 2, 3, 5, 8, 13]].double().numpy()
    centered = vectors - vectors.mean(axis=0)
    _, singular, axes = np.linalg.svd(centered, full_matrices=False)
    assert np.allclose(np.abs(projection.coordinates), np.abs(centered @ axes[:2].T), atol=1e-9)
    assert np.allclose(projection.explained, singular[:2] ** 2 / (singular ** 2).sum())
    assert embedding_projection(model, "embed", [4]).coordinates.tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="token ids go from 0 to 19"):
        embedding_projection(model, "embed", [3, 20])
