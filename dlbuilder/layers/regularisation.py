"""Dropout, BatchNorm and LayerNorm."""

from __future__ import annotations

from torch import nn

from dlbuilder.layers.activations import same_shape
from dlbuilder.layers.base import LayerType, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import TensorSpec, require_rank

DROPOUT = LayerType(
    "dropout", "Dropout", "regularisation",
    "While training, zero each value with probability p (and scale the rest); off at test time.",
    params=(Param("p", "float", 0.5, "Probability of dropping each value.", min=0.0, max=0.95),),
    infer=same_shape, recipe=lambda p, i, c: Call(nn.Dropout, (p["p"],)))


def infer_batchnorm(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (1, 3), "a vector or an image", "use LayerNorm for sequences")
    return spec


def batchnorm_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    (spec,) = inputs
    cls = nn.BatchNorm1d if spec.rank == 1 else nn.BatchNorm2d
    return Call(cls, (spec.shape[0],), {"momentum": params["momentum"]})


BATCHNORM = LayerType(
    "batchnorm", "BatchNorm", "regularisation",
    "Normalise each feature (or channel) over the batch, then scale and shift (learned).",
    params=(Param("momentum", "float", 0.1, "How fast the running statistics follow the batches.",
                  min=0.0, max=1.0),),
    infer=infer_batchnorm, recipe=batchnorm_recipe)


def infer_layernorm(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (1, 2, 3), "a vector, sequence or image", "reshape it first")
    return spec


def layernorm_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    (spec,) = inputs
    # Images normalise over (C, H, W); vectors and sequences over their features.
    normalized = list(spec.shape) if spec.rank == 3 else [spec.shape[-1]]
    return Call(nn.LayerNorm, (normalized,))


LAYERNORM = LayerType(
    "layernorm", "LayerNorm", "regularisation",
    "Normalise each example's features to mean 0 and variance 1, then scale and shift.",
    params=(), infer=infer_layernorm, recipe=layernorm_recipe)
