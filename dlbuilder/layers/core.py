"""Input, Output, Dense, Flatten, Reshape and Embedding."""

from __future__ import annotations

import math

from torch import nn

from dlbuilder import modules
from dlbuilder.layers.base import LayerType, ShapeContext, activation_call, activation_param, no_recipe
from dlbuilder.layers.recipe import Call, sequential
from dlbuilder.params import Param
from dlbuilder.shapes import ShapeError, TensorSpec, require_float, require_rank

MAX_DIM = 1_000_000  # per-parameter bound; the configurable server caps are in limits.py


def dataset_input(ctx: ShapeContext):
    """What the dataset feeds this Input (an InputInfo), or None without a dataset or past its inputs."""
    if ctx.data is None:
        return None
    given = ctx.data.inputs()
    return given[ctx.input_index] if ctx.input_index < len(given) else None


def infer_input(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    shape = tuple(params["shape"])
    given = dataset_input(ctx)
    if params["dtype"] == "tokens":
        vocab = params["vocab_size"] or (given.vocab_size if given else 0)
        if not shape and given:
            shape = given.shape
        if not shape or not vocab:
            raise ShapeError("needs a sequence length (shape) and vocab_size, or a token dataset")
        if len(shape) != 1:
            raise ShapeError(f"token ids are one sequence per example: set shape to one length, "
                             f"not {list(shape)}")
        return TensorSpec(shape, "long", vocab)
    if not shape:
        if ctx.data is None:
            raise ShapeError("does not know its shape: pick a dataset or set shape, e.g. [2]")
        if given is None:
            raise ShapeError(f"is Input {ctx.input_index + 1} but the dataset gives {len(ctx.data.inputs())}: "
                             "set its shape or delete it")
        return TensorSpec(given.shape, given.dtype, given.vocab_size)
    return TensorSpec(shape)


INPUT = LayerType(
    "input", "Input", "input/output",
    "Where examples enter the network; its shape follows the dataset unless set here.",
    params=(
        Param("shape", "ints", (), "Shape of one example, e.g. [2], [1, 8, 8]; empty = from the dataset.",
              min=1, max=MAX_DIM),
        Param("dtype", "choice", "float", "Numbers, or token ids for an Embedding.",
              choices=("float", "tokens")),
        Param("vocab_size", "int", 0, "Number of distinct tokens (0 = from the dataset).",
              min=0, max=MAX_DIM),
    ),
    infer=infer_input, recipe=no_recipe, min_inputs=0, max_inputs=0)


def output_units(params: dict, ctx: ShapeContext) -> int:
    """Units of the output layer; 0 in the document means "as many as the dataset needs"."""
    if params["units"]:
        return params["units"]
    if ctx.data is None:
        raise ShapeError("does not know how many outputs to make: pick a dataset or set units")
    return ctx.data.num_classes if ctx.data.task == "classification" else ctx.data.num_targets


def infer_output(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    if params["task"] == "reconstruction":
        require_rank(spec, (1,), "a vector (the code)", "add Flatten before the output")
        if ctx.model_input is None or ctx.model_input.dtype != "float":
            raise ShapeError("reconstruction needs a numeric input to rebuild")
        return TensorSpec(ctx.model_input.shape)
    require_rank(spec, (1, 2), "a vector (or a sequence, one output per step)",
                 "add Flatten or GlobalAvgPool before the output")
    return TensorSpec(spec.shape[:-1] + (output_units(params, ctx),))


def output_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    (spec,) = inputs
    out = infer_output(params, inputs, ctx)
    if params["task"] == "reconstruction":
        linear = Call(nn.Linear, (spec.shape[-1], out.numel))
        return sequential(linear, Call(modules.Reshape, (out.shape,)), activation_call(params["activation"], out))
    return sequential(Call(nn.Linear, (spec.shape[-1], out.shape[-1])), activation_call(params["activation"], out))


OUTPUT = LayerType(
    "output", "Output", "input/output",
    "The prediction: class scores (logits), regression values, or a rebuilt input.",
    params=(
        Param("task", "choice", "classification", "What the network predicts.",
              choices=("classification", "regression", "reconstruction")),
        Param("units", "int", 0, "Classes or values to predict (0 = as the dataset needs).",
              min=0, max=MAX_DIM),
        activation_param("identity"),
    ),
    infer=infer_output, recipe=output_recipe, width_params=("units",))


def infer_dense(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (1, 2), "a vector (or a sequence, applied per step)",
                 "add Flatten or GlobalAvgPool before it")
    return TensorSpec(spec.shape[:-1] + (params["units"],))


def dense_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    (spec,) = inputs
    linear = Call(nn.Linear, (spec.shape[-1], params["units"]), {"bias": params["bias"]})
    return sequential(linear, activation_call(params["activation"], spec))


DENSE = LayerType(
    "dense", "Dense", "core",
    "Fully connected layer: every output is a weighted sum of all inputs plus a bias.",
    params=(
        Param("units", "int", 8, "Number of neurons (outputs).", min=1, max=MAX_DIM),
        activation_param("relu"),
        Param("bias", "bool", True, "Add a learned bias to each neuron."),
    ),
    infer=infer_dense, recipe=dense_recipe, width_params=("units",))


def infer_flatten(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_float(spec, "numbers")
    return TensorSpec((spec.numel,))


FLATTEN = LayerType(
    "flatten", "Flatten", "core", "Lay an image or sequence out as one long vector.",
    params=(), infer=infer_flatten, recipe=lambda p, i, c: Call(nn.Flatten))


def infer_reshape(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_float(spec, "numbers")
    target = tuple(params["shape"])
    if not target:
        raise ShapeError("needs a target shape, e.g. [1, 8, 8]")
    if math.prod(target) != spec.numel:
        raise ShapeError(f"cannot reshape {spec.describe()} ({spec.numel} values) to {list(target)} "
                         f"({math.prod(target)} values): pick a shape with {spec.numel} values")
    return TensorSpec(target)


RESHAPE = LayerType(
    "reshape", "Reshape", "core", "Rearrange each example's values into a new shape (same count).",
    params=(Param("shape", "ints", (1, 8, 8), "New shape of one example, e.g. [1, 8, 8].",
                  min=1, max=MAX_DIM),),
    infer=infer_reshape, recipe=lambda p, i, c: Call(modules.Reshape, (tuple(p["shape"]),)))


def infer_embedding(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    if spec.dtype != "long":
        raise ShapeError(f"expects token ids but receives {spec.describe()}: "
                         "feed it from an Input with dtype 'tokens'")
    return TensorSpec(spec.shape + (params["dim"],))


EMBEDDING = LayerType(
    "embedding", "Embedding", "core",
    "Look up a learned vector for each token id: (T,) ids -> (T, dim) vectors.",
    params=(Param("dim", "int", 16, "Length of each token's vector.", min=1, max=MAX_DIM),),
    infer=infer_embedding,
    recipe=lambda p, i, c: Call(nn.Embedding, (i[0].vocab_size, p["dim"])),
    width_params=("dim",))
