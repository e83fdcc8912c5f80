"""Multi-head self-attention and cross-attention (their weights can be captured for plots)."""

from __future__ import annotations

from dlbuilder import modules
from dlbuilder.layers.base import LayerType, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import ShapeError, TensorSpec, require_rank

SEQUENCE_FIX = "feed it a sequence (T,F), e.g. from an Embedding, LSTM or Dense on a sequence"


def _check_heads(features: int, heads: int) -> None:
    if features % heads:
        raise ShapeError(f"{features} features cannot be split into {heads} heads: "
                         f"pick num_heads dividing {features}")


def infer_self_attention(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (2,), "a sequence (T,F)", SEQUENCE_FIX)
    _check_heads(spec.shape[1], params["num_heads"])
    return spec


SELF_ATTENTION = LayerType(
    "self_attention", "SelfAttention", "attention",
    "Each step looks at every step of the same sequence and mixes them by learned relevance.",
    params=(
        Param("num_heads", "int", 1, "Parallel attention heads (must divide the features).",
              min=1, max=16),
        Param("causal", "bool", False, "Let each step look only at earlier steps."),
    ),
    infer=infer_self_attention,
    recipe=lambda p, i, c: Call(modules.SelfAttention, (i[0].shape[1], p["num_heads"], p["causal"])))


def infer_cross_attention(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    query, memory = inputs
    require_rank(query, (2,), "queries as a sequence (T,F) on input 1", SEQUENCE_FIX)
    require_rank(memory, (2,), "a memory sequence (S,F) on input 2", SEQUENCE_FIX)
    _check_heads(query.shape[1], params["num_heads"])
    return query


CROSS_ATTENTION = LayerType(
    "cross_attention", "CrossAttention", "attention",
    "Each query step (input 1) looks over a memory sequence (input 2), e.g. decoder over encoder.",
    params=(Param("num_heads", "int", 1, "Parallel attention heads (must divide the query features).",
                  min=1, max=16),),
    infer=infer_cross_attention,
    recipe=lambda p, i, c: Call(modules.CrossAttention, (i[0].shape[1], i[1].shape[1], p["num_heads"])),
    min_inputs=2, max_inputs=2)
