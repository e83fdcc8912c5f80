"""Greedy decoding for seq2seq networks, and running a trained model on text a student types.

A seq2seq network takes (*source inputs, decoder input) in the order of its Input nodes, as
the dataset gives them (`info.inputs()`: the decoder input is the last). In training the decoder
input is the true target shifted right by one (teacher forcing). Here it is built from the
network's own predictions: <start>, then the most likely token of each step, until <end>.
Every step runs the whole network again, so any decoder works (the outputs at step t must
only depend on decoder inputs up to t, as with a forward LSTM, for the result to mean "greedy").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlbuilder.datasets.base import DataInfo
from dlbuilder.datasets.tokens import (
    END,
    PAD_ID,
    START,
    UNK_ID,
    as_batch,
    decode,
    encode,
    join_tokens,
    split_text,
)
from dlbuilder.training.evaluation import chunk_size
from dlbuilder.training.sequence_metrics import sequence_accuracy

# Held-out examples decoded greedily at each epoch end (seq2seq): 256 dates take 11 forward passes,
# ~0.2 s on one CPU thread, a tenth of the date preset's epoch; the exact match is known to about ±3%.
DECODE_EVAL_LIMIT = 256


class DecodingError(ValueError):
    """The model or data cannot be decoded this way; the message says why."""


@dataclass(frozen=True)
class Decoded:
    """Greedy outputs for N examples (CPU tensors)."""

    ids: torch.Tensor  # (N, T) int64 target-vocabulary ids: the tokens, <end>, then PAD_ID (0)
    # (N, T) int64: <start>, then `ids` shifted right by one, PAD_ID after <end>. Feeding it back,
    # model(*source_inputs, decoder_input), replays the decoding in one pass (e.g. for attention maps).
    decoder_input: torch.Tensor
    lengths: torch.Tensor  # (N,) int64: tokens before <end> (the steps run when there was no <end>)
    finished: torch.Tensor  # (N,) bool: the example produced <end> within max_steps

    def tokens(self, info: DataInfo) -> list[list[str]]:
        """Each example's output tokens before <end>."""
        return [decode(row, info.target_vocabulary) for row in self.ids.tolist()]

    def texts(self, info: DataInfo) -> list[str]:
        """Each example's output as text (characters joined, words spaced)."""
        level = info.target_vocabulary.level
        return [join_tokens(tokens, level) for tokens in self.tokens(info)]


@dataclass(frozen=True)
class Translation:
    """One typed source translated greedily: what the model read and what it wrote."""

    source_tokens: tuple[str, ...]  # the typed text as the model reads it (<unk> for unknown tokens)
    tokens: tuple[str, ...]  # output tokens before <end>
    text: str  # the output joined as text ("" when <end> came first)
    finished: bool  # False when the output reached the longest target without <end>
    # One example per network Input, without a batch dimension: (source ids (S,), decoder input (T,)).
    # inspection.attention.attention_maps(model, inputs) draws what each output step looked at.
    inputs: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Tagging:
    """One typed sentence tagged: a tag per word (tagging datasets such as slot_filling)."""

    words: tuple[str, ...]  # the words as typed (lower-cased, punctuation stripped)
    known: tuple[bool, ...]  # False where the vocabulary lacks the word (the model read <unk>)
    tags: tuple[str, ...]  # the predicted tag (class name) of each word
    probabilities: tuple[float, ...]  # the model's probability of each predicted tag
    inputs: tuple[torch.Tensor, ...]  # (word ids (T,),): attention_maps(model, inputs) draws its attention


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def _check_seq2seq(info: DataInfo) -> None:
    if info.target_vocabulary is None or not info.more_inputs:
        raise DecodingError("greedy decoding needs a seq2seq dataset (date_translation, reversal): its "
                            "targets are tokens fed back as the decoder input")


@torch.no_grad()
def greedy_decode(model: nn.Module, source_inputs, info: DataInfo, max_steps: int | None = None) -> Decoded:
    """Translate N sources greedily: feed <start>, append each step's most likely token, stop at <end>.

    model: a network taking (*source_inputs, decoder_input), e.g. the seq2seq preset.
    source_inputs: the inputs before the decoder input, each (N, ...) (a bare (N, S) tensor of source
        ids for one); any device (moved to the model's).
    info: the dataset's DataInfo (target_vocabulary, target_steps = T).
    max_steps: most tokens to produce per example, <end> included; at most T (None = T).
    Returns a Decoded with CPU tensors. Runs in eval mode in chunks (the model's mode is restored);
    each chunk runs the model at most max_steps times and stops once every example has ended.
    """
    _check_seq2seq(info)
    sources = (source_inputs,) if isinstance(source_inputs, torch.Tensor) else tuple(source_inputs)
    if not sources:
        raise DecodingError("give the source inputs (every network input before the decoder input)")
    count, steps = len(sources[0]), info.target_steps
    limit = steps if max_steps is None else max(0, min(int(max_steps), steps))
    chunk = max(1, chunk_size(model))
    parts = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, count, chunk):
            parts.append(_decode_chunk(model, tuple(s[start:start + chunk] for s in sources), info, limit))
    finally:
        model.train(was_training)
    if not parts:
        empty = torch.zeros((0, steps), dtype=torch.long)
        return Decoded(empty, empty.clone(), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool))
    return Decoded(*(torch.cat(tensors) for tensors in zip(*parts)))


def _decode_chunk(model: nn.Module, sources: tuple[torch.Tensor, ...], info: DataInfo, limit: int):
    vocabulary, steps = info.target_vocabulary, info.target_steps
    start_id, end_id = vocabulary.id_of(START), vocabulary.id_of(END)
    device = _model_device(model)
    sources = tuple(s.to(device) for s in sources)
    count = len(sources[0])
    decoder_input = torch.full((count, steps), PAD_ID, dtype=torch.long, device=device)
    decoder_input[:, 0] = start_id
    ids = torch.full((count, steps), PAD_ID, dtype=torch.long, device=device)
    finished = torch.zeros(count, dtype=torch.bool, device=device)
    lengths = torch.full((count,), limit, dtype=torch.long, device=device)
    for t in range(limit):
        active = torch.nonzero(~finished).reshape(-1)  # only unfinished examples run again
        scores = model(*(s[active] for s in sources), decoder_input[active])  # (A, T, C)
        if scores.dim() != 3 or scores.shape[1] != steps:
            raise DecodingError(f"the network must predict one token at each of the {steps} decoder steps, "
                                f"but its output has shape {list(scores.shape[1:])}")
        token = scores[:, t].argmax(dim=-1)  # (A,)
        ids[active, t] = token
        ended = token == end_id
        lengths[active[ended]] = t
        finished[active[ended]] = True
        if t + 1 < steps:  # the next step reads this token (never <end>: as in teacher forcing)
            decoder_input[active, t + 1] = torch.where(ended, torch.full_like(token, PAD_ID), token)
        if bool(finished.all()):
            break
    return ids.cpu(), decoder_input.cpu(), lengths.cpu(), finished.cpu()


def decoded_accuracy(setup, split, limit: int | None = None) -> float | None:
    """Exact match of greedy decoding on a Split's first `limit` examples (all if None); None unless seq2seq.

    `setup` is a training Setup (its model and dataset info); the decoder input of `split` (its
    last input) is ignored: the model reads its own outputs instead.
    """
    info = setup.bundle.info if setup.bundle is not None else None
    if info is None or info.target_vocabulary is None or not split.more_x or len(split) == 0:
        return None
    part = split.head(limit) if limit else split
    decoded = greedy_decode(setup.model, part.inputs[:-1], info)
    return sequence_accuracy(decoded.ids, part.y.cpu())


def translate(model: nn.Module, text: str, info: DataInfo) -> Translation:
    """Greedily translate typed text (a date, a string to reverse) with a seq2seq network.

    The text is checked and bounded by tokens.encode (raises TokenError with what to change:
    too long, empty, invisible characters); unknown characters are read as <unk>.
    """
    _check_seq2seq(info)
    ids = encode(text, info.vocabulary, info.input_shape[0])
    source = as_batch(ids, info.input_shape[0])  # (1, S), padded at the end like the seq2seq sets
    decoded = greedy_decode(model, source, info)
    tokens = tuple(decoded.tokens(info)[0])
    return Translation(source_tokens=tuple(info.vocabulary.tokens[i] for i in ids), tokens=tokens,
                       text=join_tokens(tokens, info.target_vocabulary.level),
                       finished=bool(decoded.finished[0]), inputs=(source[0], decoded.decoder_input[0]))


@torch.no_grad()
def tag(model: nn.Module, text: str, info: DataInfo) -> Tagging:
    """Tag each word of a typed sentence with a tagging network (one class per step, one input)."""
    if not info.target_steps or info.more_inputs or info.vocabulary is None:
        raise DecodingError("tagging needs a dataset with one token input and a tag per step (slot_filling)")
    ids = encode(text, info.vocabulary, info.input_shape[0])
    words = tuple(split_text(text, info.vocabulary.level))  # the pieces encode turned into ids, one each
    batch = as_batch(ids, info.input_shape[0])  # (1, T), padded at the end like slot_filling
    was_training = model.training
    model.eval()
    try:
        scores = model(batch.to(_model_device(model)))[0, :len(ids)].float().cpu()  # (words, C)
    finally:
        model.train(was_training)
    probabilities, classes = torch.softmax(scores, dim=-1).max(dim=-1)
    return Tagging(words=words, known=tuple(i != UNK_ID for i in ids),
                   tags=tuple(info.class_names[c] for c in classes.tolist()),
                   probabilities=tuple(float(p) for p in probabilities), inputs=(batch[0],))

