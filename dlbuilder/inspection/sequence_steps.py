"""Labels for the steps of a sequence view: which tokens the rows and columns of an attention map,
a hidden-state map or an embedding plot stand for, and which steps are padding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbuilder.compile import GraphModel
from dlbuilder.datasets.base import DatasetBundle, DataInfo
from dlbuilder.datasets.tokens import IGNORE_INDEX, PAD_ID, Vocabulary
from dlbuilder.inspection.attention import AttentionMap
from dlbuilder.inspection.sequence_predictions import vocabularies

MAX_PROJECTED = 120  # most frequent words placed on the embedding plot


@dataclass(frozen=True)
class StepLabels:
    """Tokens naming each step, and which steps are padding (None: no padding is known)."""

    tokens: list[str]
    padding: np.ndarray | None


def token_strings(ids, vocabulary: Vocabulary | None) -> list[str]:
    """Every step's token (padding included, so positions line up); step numbers for number inputs."""
    ids = np.asarray(ids).reshape(-1)
    if vocabulary is None:
        return [str(i + 1) for i in range(len(ids))]
    return [vocabulary.tokens[i] if 0 <= i < len(vocabulary) else str(i) for i in ids.tolist()]


def source_input(model: GraphModel, node: str) -> str | None:
    """The Input a node reads through its first inputs (an Embedding's tokens, an RNN's steps), or None."""
    sources = {step.node: step.sources for step in model.steps}
    current = node
    for _ in range(len(model.steps) + 1):
        if current in model.input_ids:
            return current
        if current not in sources:
            return None
        current = sources[current][0]
    return None


def input_steps(model: GraphModel, info: DataInfo, example: tuple, input_id: str | None, steps: int) -> StepLabels:
    """Labels of `steps` steps that line up with Input `input_id` of one example (numbers when unknown)."""
    if input_id is None or input_id not in model.input_ids:
        return StepLabels([str(i + 1) for i in range(steps)], None)
    vocabulary = vocabularies(model, info)[input_id]
    values = np.asarray(example[model.input_ids.index(input_id)].cpu())
    if vocabulary is None and values.shape == (steps, 1):  # one number per step (parity's +1/-1): show it
        return StepLabels([f"{v:g}" for v in values[:, 0].tolist()], None)
    ids = values.reshape(-1)
    if vocabulary is None or len(ids) != steps:
        return StepLabels([str(i + 1) for i in range(steps)], None)
    return StepLabels(token_strings(ids, vocabulary), ids == PAD_ID)


def written_tokens(info: DataInfo, targets) -> list[str] | None:
    """A seq2seq example's output tokens by step (what decoder step t writes), padding steps last."""
    if info.target_vocabulary is None or targets is None:
        return None
    ids = np.asarray(targets).reshape(-1)
    return [info.target_vocabulary.tokens[i] if 0 <= i < len(info.target_vocabulary) else "" for i in
            np.where(ids == IGNORE_INDEX, PAD_ID, ids).tolist()]


def attention_steps(model: GraphModel, info: DataInfo, example: tuple, found: AttentionMap,
                    written: list[str] | None = None) -> tuple[StepLabels, StepLabels]:
    """(query labels, key labels) of one attention map; decoder queries are named by what they write."""
    _, queries, keys = found.weights.shape
    query = input_steps(model, info, example, found.query_input, queries)
    key = input_steps(model, info, example, found.key_input, keys)
    if found.key_padding is not None:
        key = StepLabels(key.tokens, np.asarray(found.key_padding, bool))
    decoder = found.query_input is not None and found.query_input != model.input_ids[0]
    if written is not None and decoder:
        query = StepLabels(list(written[:queries]) + query.tokens[len(written):], query.padding)
    return query, key


def projected_words(model: GraphModel, bundle: DatasetBundle, node: str) -> tuple[np.ndarray, np.ndarray | None,
                                                                                  tuple[str, ...], Vocabulary]:
    """(token ids, the tag each one most often has or None, tag names, vocabulary) for an embedding plot.

    The MAX_PROJECTED tokens most frequent in the training inputs, most frequent first; padding left out.
    """
    source = source_input(model, node)
    vocabulary = vocabularies(model, bundle.info).get(source) if source else None
    if vocabulary is None:
        raise ValueError(f"{node!r} does not read a token input with a vocabulary")
    position = model.input_ids.index(source)
    tokens = bundle.inputs("train")[position].cpu().numpy().reshape(-1)
    counts = np.bincount(tokens[(tokens >= 0) & (tokens < len(vocabulary))], minlength=len(vocabulary))
    counts[PAD_ID] = 0
    order = np.argsort(-counts, kind="stable")
    ids = order[counts[order] > 0][:MAX_PROJECTED]
    info = bundle.info
    if position != 0 or not info.target_steps or info.target_vocabulary is not None or len(ids) == 0:
        return ids, None, (), vocabulary
    x, y = bundle.x_train.cpu().numpy().reshape(-1), bundle.y_train.cpu().numpy().reshape(-1)
    tagged = y != IGNORE_INDEX
    classes = max(info.num_classes, 1)
    pairs = np.bincount(x[tagged] * classes + y[tagged], minlength=len(vocabulary) * classes)
    groups = pairs.reshape(len(vocabulary), classes)[ids].argmax(axis=1)
    return ids, groups, tuple(info.class_names), vocabulary
