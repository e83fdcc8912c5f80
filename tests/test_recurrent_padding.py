"""Recurrent layers given the token ids skip padding (id 0) in both directions: real steps give the
same outputs, last states and gradients however the sentence is padded, before or after."""

import pytest
import torch

from dlbuilder.compile import compile_graph
from dlbuilder.document import Document
from dlbuilder.modules import Recurrent
from dlbuilder.presets import PRESETS
from dlbuilder.validation import validate


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_after_or_before_changes_no_real_step(cell, bidirectional):
    torch.manual_seed(0)
    layer = Recurrent(cell, 4, 5, num_layers=2, bidirectional=bidirectional)
    last = Recurrent(cell, 4, 5, num_layers=2, bidirectional=bidirectional, return_sequences=False)
    last.load_state_dict(layer.state_dict())
    words = torch.randn(1, 3, 4, requires_grad=True)
    alone, alone_last = layer(words), last(words)
    for padded_tokens, place in ((torch.tensor([[5, 6, 7, 0, 0, 0]]), slice(0, 3)),
                                 (torch.tensor([[0, 0, 5, 6, 7]]), slice(2, 5))):
        x = torch.randn(1, padded_tokens.shape[1], 4) * 10  # padded steps hold anything at all
        x[:, place] = words
        out = layer(x, padded_tokens)
        torch.testing.assert_close(out[:, place], alone, atol=1e-6, rtol=1e-5)
        assert torch.all(out[:, padded_tokens[0] == 0] == 0)
        torch.testing.assert_close(last(x, padded_tokens), alone_last, atol=1e-6, rtol=1e-5)
    # gradients reach the real steps the same way
    grad_alone = torch.autograd.grad(alone.sum(), words)[0]
    x = torch.cat([words, torch.randn(1, 2, 4)], dim=1)
    grad_padded = torch.autograd.grad(layer(x, torch.tensor([[5, 6, 7, 0, 0]])).sum(), words)[0]
    torch.testing.assert_close(grad_padded, grad_alone, atol=1e-6, rtol=1e-5)


def test_rows_of_a_batch_keep_their_own_lengths_and_an_all_padding_row_is_finite():
    torch.manual_seed(0)
    layer = Recurrent("gru", 3, 4, bidirectional=True)
    tokens = torch.tensor([[4, 4, 4, 4], [4, 4, 0, 0], [0, 0, 0, 0]])
    x = torch.randn(3, 4, 3)
    out = layer(x, tokens)
    torch.testing.assert_close(out[1:2, :2], layer(x[1:2, :2]), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[0:1], layer(x[0:1]), atol=1e-6, rtol=1e-5)
    assert torch.isfinite(out).all()


def test_the_gru_tagger_is_padding_invariant_end_to_end():
    document = PRESETS["gru_tagger"].load()
    assert validate(document).ok
    torch.manual_seed(0)
    model = compile_graph(document).eval()
    sentence = torch.tensor([[5, 9, 12, 7]])
    padded = torch.cat([sentence, torch.zeros(1, 12, dtype=torch.long)], dim=1)  # the Input reads 16 ids
    alone = model.output(model.recurrent(model.embed(sentence)))  # the 4 words with no padding at all
    torch.testing.assert_close(model(padded)[:, :4], alone, atol=1e-6, rtol=1e-5)
    without_mask = model.output(model.recurrent(model.embed(padded)))  # what the edge prevents
    assert not torch.allclose(without_mask[:, :4], alone, atol=1e-4)


def test_a_mask_input_that_is_not_token_ids_says_what_to_connect():
    document = PRESETS["gru_tagger"].load().to_dict()
    document["network"]["edges"] = [e for e in document["network"]["edges"]
                                    if not (e["target"] == "recurrent" and e["slot"] == 1)]
    document["network"]["edges"].append({"source": "embed", "target": "recurrent", "slot": 1})
    report = validate(Document.from_dict(document))
    assert not report.ok
    assert any("token" in str(problem) and "recurrent" in str(problem) for problem in report.problems)
