"""What a sequence model predicts for test examples and for typed text, as token strings, and which
of its nodes the sequence views can show.

Everything is bounded: at most MAX_SHOWN examples per call, typed text through `tokens.encode`
(which refuses long or odd text with a message). Step labels are in `sequence_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlbuilder.compile import GraphModel
from dlbuilder.datasets.base import DatasetBundle, DataInfo
from dlbuilder.datasets.tokens import (IGNORE_INDEX, PAD_ID, UNK, UNK_ID, Vocabulary, as_batch, decode, encode,
                                      join_tokens, split_text)
from dlbuilder.modules import CrossAttention, Recurrent, SelfAttention
from dlbuilder.probes import evaluating, model_device
from dlbuilder.training.decoding import greedy_decode, tag, translate
from dlbuilder.training.losses import predicted_classes

MAX_SHOWN = 20  # examples predicted at once


@dataclass(frozen=True)
class SequenceNodes:
    """The nodes each sequence view can show, in forward order."""

    recurrent: tuple[str, ...]
    attention: tuple[str, ...]
    embeddings: tuple[str, ...]
    token_inputs: tuple[str, ...]


@dataclass(frozen=True)
class SequencePredictions:
    """Predicted and true outputs of a few examples, as token strings.

    kind "tags": one tag per input word; "translation": output text; "class": one class per sequence.
    """

    kind: str
    inputs: list[list[str]]  # each example's tokens, padding dropped (unknown words "<unk>")
    predicted: list[list[str]]  # tags per word | output tokens | [class]
    true: list[list[str]] | None
    level: str = "word"  # how the input tokens join into text: "word" or "char"


def sequence_nodes(model: nn.Module) -> SequenceNodes:
    """Recurrent, attention and embedding nodes and token Inputs of a compiled network."""
    children = dict(model.named_children())
    order = [step.node for step in getattr(model, "steps", [])]

    def of(kind) -> tuple[str, ...]:
        return tuple(node for node in order if isinstance(children.get(node), kind))
    inputs = zip(getattr(model, "input_ids", []), getattr(model, "input_specs", []))
    return SequenceNodes(of(Recurrent), of((SelfAttention, CrossAttention)), of(nn.Embedding),
                         tuple(node for node, spec in inputs if spec.dtype == "long"))


def sequence_reason(model: nn.Module, bundle: DatasetBundle | None) -> str | None:
    """Why the sequence views do not apply to this network (None: they do)."""
    nodes = sequence_nodes(model)
    if not isinstance(model, GraphModel) or bundle is None:
        return "the sequence views need a trained network and its data"
    if not (nodes.recurrent or nodes.attention or nodes.token_inputs):
        return ("this network has no token input, recurrent (RNN, LSTM, GRU) or attention layer: train a "
                "sequence preset (e.g. an LSTM tagger on slot filling) to see attention maps and hidden states")
    return None


def vocabularies(model: GraphModel, info: DataInfo) -> dict[str, Vocabulary | None]:
    """Each network Input's vocabulary (None for number inputs), matched by position."""
    given = info.inputs()
    return {node: (given[i].vocabulary if i < len(given) and spec.dtype == "long" else None)
            for i, (node, spec) in enumerate(zip(model.input_ids, model.input_specs))}


def example_inputs(bundle: DatasetBundle, index: int, split: str = "test") -> tuple[torch.Tensor, ...]:
    """One example of every network input (no batch dimension)."""
    return tuple(tensor[index] for tensor in bundle.inputs(split))


def example_text(bundle: DatasetBundle, index: int, split: str = "test", limit: int = 90) -> str:
    """One example's input as text (what the model reads: unknown words are <unk>), cut to `limit`."""
    vocabulary = bundle.info.vocabulary
    x = getattr(bundle, f"x_{split}")[index]
    if vocabulary is None:
        return f"example {index}"
    text = join_tokens(decode(x.cpu().numpy(), vocabulary), vocabulary.level)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _outputs(model: GraphModel, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    device = model_device(model)
    with evaluating(model):
        return model(*(tensor.to(device) for tensor in inputs)).float().cpu()


def _shown_numbers(steps: torch.Tensor, padded: bool, limit: int = 64) -> list[str]:
    """One number sequence as text, a step per item ("1 -1 1"); all-zero steps are padding when the data pads."""
    rows = steps.float().reshape(len(steps), -1)[:limit]
    if padded:
        rows = rows[rows.abs().sum(dim=1) > 0]
    return [" ".join(f"{v:.2g}" for v in row.tolist()) if len(row) > 1 else f"{row[0].item():g}" for row in rows]


def _shown_words(ids: np.ndarray, vocabulary: Vocabulary, originals: list[str] | None) -> list[str]:
    """Real tokens of one example; an unknown word shows what it was when the data kept it: "<unk> (lima)"."""
    words = []
    for position, token_id in enumerate(ids.tolist()):
        if token_id == PAD_ID:
            continue
        word = vocabulary.tokens[token_id] if 0 <= token_id < len(vocabulary) else UNK
        if token_id == UNK_ID and originals is not None and position < len(originals):
            word = f"{UNK} ({originals[position]})"
        words.append(word)
    return words


def predict_test_sequences(model: GraphModel, bundle: DatasetBundle, indices,
                           loss: str = "cross_entropy") -> SequencePredictions:
    """Predictions for the test examples at `indices` (at most MAX_SHOWN).

    Tagging and sequence classification run one forward pass. Seq2seq decodes greedily (the model
    reads its own outputs): teacher-forced argmax would show it reading the true answer.
    """
    info = bundle.info
    indices = [int(i) for i in np.asarray(indices).reshape(-1)[:MAX_SHOWN]]
    vocabulary = info.vocabulary
    x = bundle.x_test[indices]
    y = bundle.y_test[indices]
    level = vocabulary.level if vocabulary is not None else "word"
    sentences = bundle.extras.get("test_sentences")
    inputs = []
    for row, index in enumerate(indices):
        originals = sentences[index].split() if sentences is not None and index < len(sentences) else None
        ids = x[row].cpu().numpy().reshape(-1)
        inputs.append(_shown_words(ids, vocabulary, originals) if vocabulary is not None
                      else _shown_numbers(x[row], padded="padding" in bundle.extras))
    if info.target_vocabulary is not None:  # the decoder input is the last network input
        sources = tuple(tensor[indices] for tensor in bundle.inputs("test")[:-1])
        predicted = greedy_decode(model, sources, info).tokens(info)
        true = [decode(row, info.target_vocabulary) for row in y.cpu().numpy()]
        return SequencePredictions("translation", inputs, predicted, true, level)
    scores = _outputs(model, tuple(tensor[indices] for tensor in bundle.inputs("test")))
    classes = predicted_classes(loss, scores).numpy()
    names = info.class_names
    if info.target_steps:
        predicted, true = [], []
        for row in range(len(indices)):
            kept = np.flatnonzero(y[row].cpu().numpy() != IGNORE_INDEX)
            predicted.append([_name(names, classes[row, k]) for k in kept])
            true.append([_name(names, y[row, k]) for k in kept])
        return SequencePredictions("tags", inputs, predicted, true, level)
    return SequencePredictions("class", inputs, [[_name(names, c)] for c in classes.reshape(-1)],
                               [[_name(names, c)] for c in y.reshape(-1).tolist()], level)


def _name(names, index) -> str:
    index = int(index)
    return names[index] if 0 <= index < len(names) else str(index)


def background_class(bundle: DatasetBundle, rows: int = 2000) -> str | None:
    """The tag most training words have (slot filling's "other"), for tagging data; None otherwise.

    Tables leave its runs out unless wrong: listing every "on → other" would drown the slots.
    """
    info = bundle.info
    if not info.target_steps or info.target_vocabulary is not None or not info.class_names:
        return None
    tags = bundle.y_train[:rows].cpu().numpy().reshape(-1)
    tags = tags[(tags >= 0) & (tags < len(info.class_names))]
    return info.class_names[int(np.bincount(tags).argmax())] if len(tags) else None


def shown_examples(bundle: DatasetBundle, count: int) -> list[int]:
    """`count` test examples to show; with slot filling's unseen cities, the last one uses such a city."""
    total = len(bundle.x_test)
    chosen = list(range(min(count, total)))
    unseen = bundle.extras.get("test_unseen")
    if unseen is not None and count > 1:
        flagged = np.flatnonzero(np.asarray(unseen))
        if len(flagged) and flagged[0] not in chosen:
            chosen[-1] = int(flagged[0])
    return chosen


# -- typed text ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypedPrediction:
    """What the model makes of a student's text: the tokens it read, and its tags, output or class."""

    kind: str  # "tags" | "translation" | "class"
    tokens: list[str]  # as the model reads them: unknown words are "<unk>"
    predicted: list[str]
    unknown: list[str]  # the typed words (or characters) the vocabulary lacks
    inputs: tuple[torch.Tensor, ...]  # one example per network input (no batch dimension), for the probes
    level: str = "word"  # how the tokens join into text: "word" or "char"
    finished: bool = True  # seq2seq: False when the output reached the longest target without <end>


def read_typed_text(model: GraphModel, info: DataInfo, text: str, loss: str = "cross_entropy",
                    front: bool = False) -> TypedPrediction:
    """Translate, tag or classify typed text (TokenError, a ValueError, says what to change).

    `front`: the data pads at the front (as `parity` does), so the typed text goes at the end.
    """
    vocabulary = info.vocabulary
    if vocabulary is None:
        raise ValueError("typing your own input needs a network whose input is tokens")
    level = vocabulary.level
    if info.target_vocabulary is not None:
        found = translate(model, text, info)
        unknown = _unknown(text, vocabulary, [vocabulary.id_of(t) for t in found.source_tokens])
        return TypedPrediction("translation", list(found.source_tokens), list(found.tokens), unknown, found.inputs,
                               level, finished=found.finished)
    if len(model.input_ids) != 1:
        raise ValueError("typing your own input needs a network with one token input")
    if info.target_steps and not front:
        tagged = tag(model, text, info)
        tokens = [word if known else UNK for word, known in zip(tagged.words, tagged.known)]
        unknown = list(dict.fromkeys(w for w, known in zip(tagged.words, tagged.known) if not known))
        return TypedPrediction("tags", tokens, list(tagged.tags), unknown, tagged.inputs, level)
    steps = info.input_shape[0]
    ids = encode(text, vocabulary, steps)  # checks length and characters before anything is allocated
    batch = as_batch(ids, steps, front=front)  # (1, T)
    classes = predicted_classes(loss, _outputs(model, (batch,)))[0].numpy()
    tokens, unknown = [vocabulary.tokens[i] for i in ids], _unknown(text, vocabulary, ids)
    if info.target_steps:
        positions = np.flatnonzero(batch[0].numpy() != PAD_ID)
        return TypedPrediction("tags", tokens, [_name(info.class_names, classes[p]) for p in positions], unknown,
                               (batch[0],), level)
    return TypedPrediction("class", tokens, [_name(info.class_names, classes.reshape(-1)[0])], unknown, (batch[0],),
                           level)


def _unknown(text: str, vocabulary: Vocabulary, ids: list[int]) -> list[str]:
    pieces = split_text(text, vocabulary.level)
    return list(dict.fromkeys(piece for piece, i in zip(pieces, ids) if i == UNK_ID))
