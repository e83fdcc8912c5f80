"""Positional encoding, multi-head self-attention and cross-attention (weights captured for plots).

Padding: an attention node may take, on its last slot, the token Input its keys were made
from; key steps whose id is 0 (padding) then get no attention. The mask travels as an edge
like any other tensor, so the compiled model, the exported code and ONNX all see it.
"""

from __future__ import annotations

from dlbuilder import modules
from dlbuilder.layers.base import LayerType, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import ShapeError, TensorSpec, require_rank

SEQUENCE_FIX = "feed it a sequence (T,F), e.g. from an Embedding, LSTM or Dense on a sequence"
MAX_LENGTH = 65_536


def infer_positional_encoding(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (2,), "a sequence (T,F)", "feed it a sequence, e.g. from an Embedding")
    steps, limit = spec.shape[0], params["max_length"]
    if limit and steps > limit:
        raise ShapeError(f"receives sequences of {steps} steps but max_length is {limit}: "
                         f"set max_length to {steps} or more (0 = the input's length), or shorten the input")
    return spec


def positional_encoding_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    steps, features = inputs[0].shape
    return Call(modules.PositionalEncoding, (params["kind"], params["max_length"] or steps, features))


POSITIONAL_ENCODING = LayerType(
    "positional_encoding", "PositionalEncoding", "attention",
    "Add where each step is (attention alone ignores order): fixed sine waves, or a learned vector per step.",
    params=(
        Param("kind", "choice", "sinusoidal", "sinusoidal: fixed sines and cosines of many wavelengths "
              "(Vaswani et al.), no parameters. learned: a trained vector per position.",
              choices=("sinusoidal", "learned")),
        Param("max_length", "int", 0, "Longest sequence it accepts; a learned table has one row per "
              "position (0 = the input's length).", min=0, max=MAX_LENGTH),
    ),
    infer=infer_positional_encoding, recipe=positional_encoding_recipe)


def _check_heads(features: int, heads: int) -> None:
    if features % heads:
        raise ShapeError(f"{features} features cannot be split into {heads} heads: "
                         f"pick num_heads dividing {features}")


def check_padding_tokens(tokens: TensorSpec, slot: int, steps: int, what: str) -> None:
    """The optional last input: the token ids (length `steps`) whose padding (id 0) is ignored."""
    if tokens.dtype != "long":
        raise ShapeError(f"input {slot} is the padding mask and must be token ids, not {tokens.describe()}: "
                         "connect the token Input the sequence was made from, or remove that edge")
    if tokens.shape != (steps,):
        raise ShapeError(f"input {slot} has {tokens.numel} token ids but the {what} has {steps} steps: "
                         "connect the token Input that sequence was made from")


def infer_self_attention(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    spec = inputs[0]
    require_rank(spec, (2,), "a sequence (T,F)", SEQUENCE_FIX)
    _check_heads(spec.shape[1], params["num_heads"])
    if len(inputs) == 2:
        check_padding_tokens(inputs[1], 2, spec.shape[0], "sequence")
    return spec


SELF_ATTENTION = LayerType(
    "self_attention", "SelfAttention", "attention",
    "Each step looks at every step of the same sequence and mixes them by learned relevance. Optional "
    "input 2: the token ids, so padding (id 0) gets no attention.",
    params=(
        Param("num_heads", "int", 1, "Parallel attention heads (must divide the features).",
              min=1, max=16),
        Param("causal", "bool", False, "Let each step look only at earlier steps."),
    ),
    infer=infer_self_attention,
    recipe=lambda p, i, c: Call(modules.SelfAttention, (i[0].shape[1], p["num_heads"], p["causal"])),
    max_inputs=2)


def infer_cross_attention(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    query, memory = inputs[:2]
    require_rank(query, (2,), "queries as a sequence (T,F) on input 1", SEQUENCE_FIX)
    require_rank(memory, (2,), "a memory sequence (S,F) on input 2", SEQUENCE_FIX)
    _check_heads(query.shape[1], params["num_heads"])
    if len(inputs) == 3:
        check_padding_tokens(inputs[2], 3, memory.shape[0], "memory")
    return query


CROSS_ATTENTION = LayerType(
    "cross_attention", "CrossAttention", "attention",
    "Each query step (input 1) looks over a memory sequence (input 2), e.g. decoder over encoder. "
    "Optional input 3: the memory's token ids, so its padding (id 0) gets no attention.",
    params=(Param("num_heads", "int", 1, "Parallel attention heads (must divide the query features).",
                  min=1, max=16),),
    infer=infer_cross_attention,
    recipe=lambda p, i, c: Call(modules.CrossAttention, (i[0].shape[1], i[1].shape[1], p["num_heads"])),
    min_inputs=2, max_inputs=3)
