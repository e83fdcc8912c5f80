"""Sequence probes: attention maps, hidden states over time, gradients back through time, embeddings.

Each probe takes a GraphModel, runs it in eval mode (the previous mode is restored), never
touches the parameters' `.grad`, bounds its cost (one example, or at most MAX_EXAMPLES) and
returns NumPy on the CPU. `inputs` is one value per network Input (a bare array for a
network with one Input): one example without the batch dimension, except for
`timestep_gradient_norms`, which takes a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from dlbuilder.compile import Captured, GraphModel
from dlbuilder.inspection.unrolled import unrolled_recurrent
from dlbuilder.modules import CrossAttention, Recurrent, SelfAttention
from dlbuilder.probes import eval_mode, evaluating, model_device
from dlbuilder.training.losses import LOSSES

MAX_EXAMPLES = 256  # examples averaged by timestep_gradient_norms
MAX_WORDS = 500  # tokens projected at once: the SVD costs words² x dim

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttentionMap:
    """One attention node's weights for one example: row t is how query step t spreads over the keys."""

    node: str
    kind: str  # "self" or "cross"
    weights: np.ndarray  # (heads, T, S); each row sums to 1, padding keys get 0
    query_input: str | None  # the Input whose step t is query t (for labels), None if none lines up
    key_input: str | None  # the Input whose step s is key s
    query_tokens: np.ndarray | None  # (T,) token ids of query_input when it holds tokens
    key_tokens: np.ndarray | None  # (S,)
    key_padding: np.ndarray | None  # (S,) True for keys masked as padding; None without a mask input


@dataclass(frozen=True)
class EmbeddingProjection:
    """Embedding vectors of chosen tokens projected on their first two principal components."""

    node: str
    token_ids: np.ndarray  # (N,)
    coordinates: np.ndarray  # (N, 2)
    explained: np.ndarray  # (2,) share of the chosen vectors' variance along each axis


def example_batch(model: GraphModel, inputs, batched: bool = False) -> tuple[torch.Tensor, ...]:
    """The network's inputs as checked tensors on its device: one example (a batch of 1 is added) or a batch."""
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        inputs = (inputs,)
    inputs = tuple(inputs)
    if len(inputs) != len(model.input_ids):
        raise ValueError(f"this network takes {len(model.input_ids)} input(s) ({', '.join(model.input_ids)}), "
                         f"got {len(inputs)}")
    device, tensors = model_device(model), []
    for node, spec, value in zip(model.input_ids, model.input_specs, inputs):
        tensor = torch.as_tensor(value.detach().cpu() if isinstance(value, torch.Tensor) else np.asarray(value))
        tensor = tensor if batched else tensor.unsqueeze(0)
        if tuple(tensor.shape[1:]) != spec.shape or not 1 <= len(tensor) <= MAX_EXAMPLES:
            wanted = f"(N, {', '.join(map(str, spec.shape))}) with N from 1 to {MAX_EXAMPLES}" if batched \
                else str(list(spec.shape))
            raise ValueError(f"input {node} must have shape {wanted}, got {list(tensor.shape[int(not batched):])}")
        tensors.append(_checked_values(node, spec, tensor).to(device))
    return tuple(tensors)


def _checked_values(node: str, spec, tensor: torch.Tensor) -> torch.Tensor:
    if spec.dtype == "long":
        if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            raise ValueError(f"input {node} takes token ids (whole numbers), got {tensor.dtype}")
        tensor = tensor.long()
        if tensor.min() < 0 or tensor.max() >= spec.vocab_size:
            raise ValueError(f"input {node} takes token ids from 0 to {spec.vocab_size - 1}")
        return tensor
    tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"input {node} contains NaN or infinite values")
    return tensor


def attention_maps(model: GraphModel, inputs) -> list[AttentionMap]:
    """Per-head weights of every attention node (forward order) for one example."""
    batch = example_batch(model, inputs)
    with evaluating(model), model.capture() as captured:
        model(*batch)
    maps = []
    for step in model.steps:
        module = model.get_submodule(step.node)
        if not isinstance(module, (SelfAttention, CrossAttention)):
            continue
        cross = isinstance(module, CrossAttention)
        weights = captured.attention[step.node][0].float().cpu().numpy()  # (heads, T, S)
        query_input = _position_input(model, captured, step.sources[0], weights.shape[1])
        key_input = _position_input(model, captured, step.sources[1 if cross else 0], weights.shape[2])
        mask_slot = 2 if cross else 1
        padding = None
        if len(step.sources) > mask_slot:
            padding = (captured.outputs[step.sources[mask_slot]][0] == module.PAD_ID).cpu().numpy()
        maps.append(AttentionMap(step.node, "cross" if cross else "self", weights, query_input, key_input,
                                 _tokens(model, captured, query_input), _tokens(model, captured, key_input),
                                 padding))
    return maps


def _position_input(model: GraphModel, captured: Captured, start: str, steps: int) -> str | None:
    """The Input reached from `start` by following first inputs through nodes whose outputs keep `steps` steps."""
    sources = {step.node: step.sources for step in model.steps}
    node = start
    for _ in range(len(model.steps) + 1):
        value = captured.outputs[node]
        if value.dim() < 2 or value.shape[1] != steps:
            return None
        if node in model.input_ids:
            return node
        node = sources[node][0]
    return None


def _tokens(model: GraphModel, captured: Captured, input_id: str | None) -> np.ndarray | None:
    if input_id is None or model.input_specs[model.input_ids.index(input_id)].dtype != "long":
        return None
    return captured.outputs[input_id][0].cpu().numpy()


def _recurrent(model: GraphModel, node: str) -> Recurrent:
    module = dict(model.named_children()).get(node)
    if not isinstance(module, Recurrent):
        raise ValueError(f"{node!r} is not a recurrent node (RNN, LSTM or GRU) of this network")
    return module


def hidden_states(model: GraphModel, inputs, node: str) -> np.ndarray:
    """A recurrent node's top-layer hidden state at every step for one example: (T, hidden_size x directions)."""
    module = _recurrent(model, node)
    batch = example_batch(model, inputs)
    kept = []
    # every step, even when the node passes on only the last one (and with padding skipped, as the node does)
    handle = module.register_forward_hook(lambda _, args, output: kept.append(module.steps(*args)[0].detach()))
    try:
        with evaluating(model):
            model(*batch)
    finally:
        handle.remove()
    return kept[0][0].float().cpu().numpy()


def timestep_gradient_norms(model: GraphModel, inputs, targets, loss: str | Loss, node: str) -> np.ndarray:
    """(T,): the norm of dLoss/dh_t for a recurrent node's top-layer hidden state h_t, over a batch.

    h_t counts every path to the loss, through the outputs and through the later steps, so
    the norms show how much of the error signal reaches each step back through time.
    `loss` is a name in LOSSES or a function (prediction, targets) -> one number.
    """
    module = _recurrent(model, node)
    batch = example_batch(model, inputs, batched=True)
    targets = torch.as_tensor(targets.detach() if isinstance(targets, torch.Tensor) else np.asarray(targets))
    if len(targets) != len(batch[0]):
        raise ValueError(f"got {len(targets)} targets for {len(batch[0])} examples")
    loss_function = LOSSES[loss].build() if isinstance(loss, str) else loss
    states: list[list[torch.Tensor]] = []  # per direction, h_t for every t

    def unroll(_, args, output):
        result, top = unrolled_recurrent(module, args[0])
        states.extend(top)
        return result  # replaces the node's output, so the loss depends on these h_t

    handle = module.register_forward_hook(unroll)
    try:
        with eval_mode(model), torch.enable_grad():
            value = loss_function(model(*batch), targets.to(model_device(model)))
            if value.dim() != 0:
                raise ValueError("the loss must reduce to one number (use a mean)")
            flat = [h for direction in states for h in direction]
            grads = torch.autograd.grad(value, flat, allow_unused=True)
    finally:
        handle.remove()
    steps = len(states[0])
    squares = np.zeros(steps)
    for index, grad in enumerate(grads):
        if grad is not None:
            squares[index % steps] += float(grad.double().square().sum())
    return np.sqrt(squares)


def embedding_projection(model: GraphModel, node: str, words: Sequence[int]) -> EmbeddingProjection:
    """2-D PCA coordinates of the embedding vectors of `words` (token ids), fitted on those vectors."""
    module = dict(model.named_children()).get(node)
    if not isinstance(module, nn.Embedding):
        raise ValueError(f"{node!r} is not an Embedding node of this network")
    ids = np.asarray(words)
    if ids.ndim != 1 or not 1 <= len(ids) <= MAX_WORDS or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"pick from 1 to {MAX_WORDS} token ids (whole numbers)")
    if ids.min() < 0 or ids.max() >= module.num_embeddings:
        raise ValueError(f"token ids go from 0 to {module.num_embeddings - 1}")
    vectors = module.weight.detach()[torch.as_tensor(ids, device=module.weight.device)].double().cpu().numpy()
    centered = vectors - vectors.mean(axis=0)
    left, singular, _ = np.linalg.svd(centered, full_matrices=False)
    # each axis points where its largest loading is positive, so redraws do not flip at random
    signs = np.sign(left[np.abs(left).argmax(axis=0), np.arange(left.shape[1])])
    coordinates = left * np.where(signs == 0, 1.0, signs) * singular
    total = float(np.square(singular).sum())
    explained = np.square(singular) / total if total > 0 else np.zeros_like(singular)
    return EmbeddingProjection(node, ids.astype(np.int64), _two_columns(coordinates), _two_columns(explained[None])[0])


def _two_columns(values: np.ndarray) -> np.ndarray:
    """The first two columns, zero-padded when there are fewer (one word, or 1-D vectors)."""
    out = np.zeros((len(values), 2))
    out[:, :min(2, values.shape[1])] = values[:, :2]
    return out
