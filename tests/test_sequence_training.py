"""Training on sequences: per-step losses and metrics that ignore padding, several inputs, greedy
decoding, the sequence presets and the starter networks for token data."""

from __future__ import annotations

import ast
import copy
import json

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dlbuilder import probes
from dlbuilder.cli import main
from dlbuilder.compile import compile_graph
from dlbuilder.datasets import DATASETS
from dlbuilder.datasets.seq2seq import DATE_TARGET_VOCABULARY, describe_dates
from dlbuilder.datasets.tokens import END, IGNORE_INDEX, PAD_ID, START, TokenError
from dlbuilder.editing import blank_network_for_dataset, network_for_dataset, set_data_params, set_training
from dlbuilder.export import export_onnx, python_source
from dlbuilder.inspection.attention import attention_maps
from dlbuilder.inspection.distributions import batch_loss, fixed_batch
from dlbuilder.inspection.landscape import evaluation_probe, flat_weights
from dlbuilder.presets import PRESETS
from dlbuilder.training.decoding import DecodingError, greedy_decode, tag, translate
from dlbuilder.training.evaluation import evaluate, predict
from dlbuilder.training.losses import LOSSES, compute_loss
from dlbuilder.training.sequence_metrics import exact_matches, sequence_accuracy, token_accuracy
from dlbuilder.training.setup import prepare
from dlbuilder.training.trainer import Trainer
from dlbuilder.validation import validate

SEQUENCE_PRESETS = ("lstm_slot_filler", "gru_tagger", "transformer_tagger", "parity_rnn", "parity_lstm", "seq2seq")
SMALL_DATA = {"slot_filling": {"num_samples": 300}, "date_translation": {"num_samples": 300},
              "parity": {"num_samples": 300}}


def small(name: str, epochs: int = 1, **data):
    """A preset on a few hundred examples (the tests' CI-sized runs)."""
    document = PRESETS[name].load()
    document = set_data_params(document, {**SMALL_DATA[document.data.name], **data})
    return set_training(document, {"epochs": epochs})


def trained(document) -> Trainer:
    torch.set_num_threads(1)
    trainer = Trainer(document, device="cpu")
    while trainer.step():
        pass
    return trainer


# -- losses and metrics over padded steps ------------------------------------------------------------

def padded_batch(seed: int = 0):
    """Scores (4, 6, 5) and targets (4, 6) whose rows end in 1 to 4 padded steps."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(4, 6, 5, generator=generator)
    targets = torch.randint(0, 5, (4, 6), generator=generator)
    for row, length in enumerate((5, 4, 2, 3)):
        targets[row, length:] = IGNORE_INDEX
    return scores, targets


def test_padded_steps_change_neither_the_loss_nor_its_gradient():
    scores, targets = padded_batch()
    loss_fn = LOSSES["cross_entropy"].build()
    changed = scores.clone()
    changed[targets == IGNORE_INDEX] = torch.randn(int((targets == IGNORE_INDEX).sum()), 5) * 100
    grads = []
    for values in (scores, changed):
        values = values.clone().requires_grad_(True)
        loss = compute_loss(loss_fn, "cross_entropy", values, targets)
        loss.backward()
        grads.append((loss.item(), values.grad))
    assert grads[0][0] == pytest.approx(grads[1][0], abs=0)
    assert torch.equal(grads[0][1], grads[1][1])
    assert float(grads[0][1][targets == IGNORE_INDEX].abs().max()) == 0.0
    # the mean runs over real steps only: the same as scoring the real steps alone
    real = targets != IGNORE_INDEX
    assert grads[0][0] == pytest.approx(float(F.cross_entropy(scores[real], targets[real])), rel=1e-6)


def slot_batch(count: int = 64):
    bundle = DATASETS["slot_filling"].load({"num_samples": 300}, 0)
    return bundle.x_train[:count], bundle.y_train[:count]


def loss_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = compute_loss(LOSSES["cross_entropy"].build(), "cross_entropy", model(x), y)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_padding_tokens_do_not_reach_the_loss_of_a_forward_lstm_tagger():
    torch.manual_seed(0)
    model = compile_graph(PRESETS["lstm_slot_filler"].load()).train()
    x, y = slot_batch()
    assert bool((x == PAD_ID).any())
    scrambled = x.clone()
    padded = x == PAD_ID  # padding comes after each sentence: a left-to-right LSTM reads it last
    scrambled[padded] = torch.randint(2, 100, (int(padded.sum()),), generator=torch.Generator().manual_seed(1))
    loss, grads = loss_and_grads(model, x, y)
    loss2, grads2 = loss_and_grads(model, scrambled, y)
    assert loss == pytest.approx(loss2, rel=1e-6)
    assert grads.keys() == grads2.keys()
    for name, grad in grads.items():  # the embedding too: padded steps send nothing back to any row
        assert torch.allclose(grad, grads2[name], atol=1e-6), name


def test_the_padding_vector_does_not_reach_the_transformer_taggers_loss():
    """The mask edge keeps padding keys out of the attention; steps never mix otherwise."""
    torch.manual_seed(0)
    model = compile_graph(PRESETS["transformer_tagger"].load()).train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    x, y = slot_batch()
    loss, grads = loss_and_grads(model, x, y)
    with torch.no_grad():
        model.get_submodule("embed").weight[PAD_ID] += 50.0
    loss2, grads2 = loss_and_grads(model, x, y)
    assert loss == pytest.approx(loss2, rel=1e-5)
    for name, grad in grads.items():
        if name == "embed.weight":
            grad, other = grad[PAD_ID + 1:], grads2[name][PAD_ID + 1:]
        else:
            other = grads2[name]
        assert torch.allclose(grad, other, atol=1e-5), name


def test_token_accuracy_counts_real_steps_only():
    targets = torch.tensor([[1, 2, IGNORE_INDEX, IGNORE_INDEX], [3, 0, 1, IGNORE_INDEX]])
    predicted = torch.tensor([[1, 0, 3, 3], [3, 0, 2, 0]])
    assert token_accuracy(predicted, targets) == pytest.approx(3 / 5)  # 5 real steps, 3 right
    assert sequence_accuracy(predicted, targets) == 0.0
    assert np.isnan(token_accuracy(predicted, torch.full((2, 4), IGNORE_INDEX)))


def test_exact_match_needs_every_real_step_and_ignores_padding():
    end = 9
    targets = torch.tensor([[4, 5, end, IGNORE_INDEX], [4, end, IGNORE_INDEX, IGNORE_INDEX],
                            [6, 6, 6, end], [7, end, IGNORE_INDEX, IGNORE_INDEX]])
    predicted = torch.tensor([[4, 5, end, 2],  # right; anything after <end> is padding
                              [4, 5, end, 0],  # no <end> where the target ends: wrong
                              [6, 6, 6, end],  # right
                              [end, 0, 0, 0]])  # stopped too early: wrong
    assert exact_matches(predicted, targets).tolist() == [True, False, True, False]
    assert sequence_accuracy(predicted, targets) == 0.5


class FixedScores(nn.Module):
    """Returns the scores it was made with (a stand-in network for the probes)."""

    def __init__(self, scores: torch.Tensor):
        super().__init__()
        self.scores = scores

    def forward(self, x):
        return self.scores[:len(x)]


def test_confusion_matrix_skips_padded_steps():
    scores, targets = padded_batch()
    matrix = probes.confusion_matrix(FixedScores(scores), torch.zeros(4, 6), targets, 5)
    real = targets != IGNORE_INDEX
    assert matrix.sum() == int(real.sum())
    assert np.trace(matrix) == int((scores.argmax(-1) == targets)[real].sum())


# -- several inputs -----------------------------------------------------------------------------------

def test_every_input_is_cut_with_the_same_rows():
    document = PRESETS["seq2seq"].load()
    model = compile_graph(document).eval()
    bundle = DATASETS["date_translation"].load({"num_samples": 300}, 0)
    source, decoder = bundle.inputs("test")
    whole = model(source, decoder)
    assert torch.allclose(predict(model, (source, decoder), chunk=7), whole, atol=1e-5)
    with probes.evaluating(model):
        assert torch.allclose(probes.forward(model, (source, decoder)), whole, atol=1e-5)


def test_squared_losses_are_refused_for_a_class_per_step():
    document = set_training(PRESETS["lstm_slot_filler"].load(), {"loss": "mse"})
    problems = [p for p in validate(document).problems if p.check == "loss"]
    assert len(problems) == 1
    assert "cross_entropy" in problems[0].message and "padded steps" in problems[0].message


# -- greedy decoding ----------------------------------------------------------------------------------

class Counter(nn.Module):
    """A scripted seq2seq 'network': after <start> it writes 0, then the digit after the one it was fed,
    and <end> once it was fed the digit source[:, 0] names. Its outputs only depend on what it is fed,
    so greedy decoding must feed its own outputs back to get 0, 1, 2, ..."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        vocabulary = DATE_TARGET_VOCABULARY
        self.start, self.end = vocabulary.id_of(START), vocabulary.id_of(END)
        self.digit = [vocabulary.id_of(str(d)) for d in range(10)]

    def forward(self, source, decoder_input):
        self.calls += 1
        digits = torch.tensor(self.digit)
        fed = torch.full_like(decoder_input, -1)  # the digit each step was fed, -1 for others
        for value, token in enumerate(self.digit):
            fed[decoder_input == token] = value
        nxt = digits[(fed + 1).clamp(0, 9)]
        nxt = torch.where(decoder_input == self.start, digits[0], nxt)
        nxt = torch.where(fed == source[:, :1], torch.full_like(nxt, self.end), nxt)
        return F.one_hot(nxt, len(DATE_TARGET_VOCABULARY)).float() * 5  # (N, T, C)


def test_greedy_decoding_feeds_its_outputs_back_and_stops_at_end():
    info = describe_dates({})
    model = Counter()
    source = torch.tensor([[3], [1]])  # stop after writing 3, after writing 1
    decoded = greedy_decode(model, source, info)
    assert decoded.texts(info) == ["0123", "01"]
    assert decoded.lengths.tolist() == [4, 2]
    assert decoded.finished.tolist() == [True, True]
    end = DATE_TARGET_VOCABULARY.id_of(END)
    assert decoded.ids[0, :6].tolist() == [*model.digit[:4], end, PAD_ID]
    assert decoded.decoder_input[0, :6].tolist() == [model.start, *model.digit[:4], PAD_ID]
    assert model.calls == 5  # every example ended at step 5: no more passes


def test_greedy_decoding_is_bounded():
    info = describe_dates({})
    model = Counter()
    decoded = greedy_decode(model, torch.tensor([[7]]), info, max_steps=4)
    assert decoded.texts(info) == ["0123"] and decoded.finished.tolist() == [False]
    assert decoded.lengths.tolist() == [4] and model.calls == 4
    model.calls = 0
    endless = greedy_decode(model, torch.tensor([[-5]]), info, max_steps=10_000)  # never ends
    assert model.calls == info.target_steps and not bool(endless.finished[0])
    with pytest.raises(DecodingError, match="seq2seq"):
        greedy_decode(model, torch.tensor([[1]]), DATASETS["slot_filling"].describe({}))


# -- the presets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SEQUENCE_PRESETS)
def test_each_sequence_preset_validates_trains_an_epoch_and_exports(name):
    document = small(name)
    assert validate(document).ok
    trainer = trained(document)
    assert trainer.epoch == 1 and trainer._fast is None  # the NumPy fast path takes Dense chains only
    record = trainer.metrics.epochs()[-1]
    assert np.isfinite(record.train_loss) and 0 <= record.train_metric <= 1
    tagging = DATASETS[document.data.name].describe(document.data.params).target_steps > 0
    assert (record.train_sequence_metric is not None) == tagging
    assert (record.decoded_sequence_metric is not None) == (name == "seq2seq")
    model = trainer.setup.model.eval()
    inputs = trainer.setup.splits["test"].head(3).inputs
    with torch.no_grad():
        expected = model(*inputs)
    ast.parse(python_source(document))
    session = onnxruntime.InferenceSession(export_onnx(model))
    feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
    assert np.allclose(session.run(None, feeds)[0], expected.numpy(), atol=1e-4)


def test_the_lstm_slot_filler_learns_and_tags_by_the_verb():
    trainer = trained(small("lstm_slot_filler", epochs=4, num_samples=1500))
    results = trainer.test_results()
    assert results["test_metric"] > 0.9  # chance (always "other") is about 0.6
    info = trainer.setup.bundle.info
    leave = tag(trainer.setup.model, "leave Taipei on November 2nd", info)
    arrive = tag(trainer.setup.model, "arrive Taipei on November 2nd", info)
    assert leave.words[1] == "taipei" and leave.tags[1] == "origin"
    assert arrive.tags[1] == "destination"
    assert leave.tags[3:] == ("time", "time")
    unknown = tag(trainer.setup.model, "fly to Atlantis", info)
    assert unknown.known == (True, True, False)
    with pytest.raises(TokenError):
        tag(trainer.setup.model, "x" * 10_000, info)


def test_the_seq2seq_presets_teacher_forced_loss_falls_and_it_translates():
    trainer = trained(small("seq2seq", epochs=3, num_samples=1200))
    losses = [record.loss for record in trainer.metrics.steps()]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    records = trainer.metrics.epochs()
    assert records[-1].val_loss < records[0].val_loss
    assert 0 <= records[-1].decoded_sequence_metric <= 1
    info = trainer.setup.bundle.info
    result = translate(trainer.setup.model, "November 2nd 2021", info)
    assert result.source_tokens == tuple("November 2nd 2021")
    assert len(result.tokens) <= info.target_steps and result.text == "".join(result.tokens)
    maps = attention_maps(trainer.setup.model, result.inputs)
    assert maps[0].weights.shape == (1, info.target_steps, info.input_shape[0])
    assert np.allclose(maps[0].weights.sum(-1), 1, atol=1e-5)
    assert np.all(maps[0].weights[:, :, len("November 2nd 2021"):] == 0)  # padding gets no attention


def test_evaluate_reports_token_and_sequence_accuracy():
    setup = prepare(small("gru_tagger"), device="cpu")
    score = evaluate(setup, setup.splits["val"])
    predicted = predict(setup.model, setup.splits["val"].x).argmax(-1)
    assert score.metric == pytest.approx(token_accuracy(predicted, setup.splits["val"].y))
    assert score.sequence_metric == pytest.approx(sequence_accuracy(predicted, setup.splits["val"].y))


# -- starter networks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset, kinds", [
    ("slot_filling", ["input", "embedding", "lstm", "output"]),
    ("parity", ["input", "lstm", "output"]),
    ("sine_wave", ["input", "lstm", "output"]),
    ("date_translation", [n["type"] for n in PRESETS["seq2seq"].document["network"]["nodes"]]),
    ("reversal", [n["type"] for n in PRESETS["seq2seq"].document["network"]["nodes"]]),
])
def test_starter_networks_for_sequence_data(dataset, kinds):
    document = network_for_dataset(dataset)
    assert [n.type for n in document.nodes] == kinds
    assert validate(document).ok
    blank = blank_network_for_dataset(dataset)
    assert validate(blank).ok
    model = compile_graph(copy.deepcopy(blank))
    with torch.no_grad():
        assert model(*model.example_inputs()).shape[0] == 2


def test_landscape_and_histogram_probes_feed_every_input():
    setup = prepare(small("seq2seq"), device="cpu")
    first = setup.splits["train"].head(16)
    with torch.no_grad():
        direct = compute_loss(setup.loss_fn, setup.loss, setup.model.eval()(*first.inputs), first.t)
    probe = evaluation_probe(setup, examples=16)
    assert probe(flat_weights(setup.model)[None])[0] == pytest.approx(float(direct), rel=1e-5)
    probe.method = "loop"
    assert probe(flat_weights(setup.model)[None])[0] == pytest.approx(float(direct), rel=1e-5)
    batch = fixed_batch(setup, size=8)
    assert len(batch.inputs) == 2 and np.isfinite(batch_loss(setup.model, batch).item())


def test_date_attention_concentrates_on_the_source_characters_each_output_copies():
    """DD.MM.YYYY -> YYYY-MM-DD: output step i copies one source character; after one epoch the
    attention mass on it is measured at ~0.75 (0.10 untrained: spread over the 10 characters)."""
    aligned = {0: 6, 1: 7, 2: 8, 3: 9, 5: 3, 6: 4, 8: 0, 9: 1}  # output step -> source position
    trainer = trained(set_training(PRESETS["seq2seq"].load(), {"epochs": 1}))
    model, info = trainer.setup.model, trainer.setup.bundle.info
    masses = []
    for day, month, year in ((2, 11, 2021), (17, 3, 1984), (28, 8, 2049), (9, 12, 1971), (23, 6, 2005)):
        result = translate(model, f"{day:02d}.{month:02d}.{year}", info)
        assert result.text == f"{year}-{month:02d}-{day:02d}"
        weights = attention_maps(model, result.inputs)[0].weights[0]  # (T, S), one head
        masses.append(np.mean([weights[step, source] for step, source in aligned.items()]))
    assert np.mean(masses) > 0.5



def test_the_command_line_writes_the_sequence_columns(tmp_path):
    path = tmp_path / "dates.json"
    path.write_text(small("seq2seq").to_json())
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].endswith("val_sequence_metric,decoded_sequence_metric") and len(lines) == 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 0 <= summary["test_decoded_metric"] <= 1 and 0 <= summary["test_sequence_metric"] <= 1
