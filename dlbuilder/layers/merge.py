"""Add and Concat: the merges that make skip connections and multi-branch graphs."""

from __future__ import annotations

from dlbuilder import modules
from dlbuilder.layers.base import LayerType, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.shapes import ShapeError, TensorSpec, require_float


def infer_add(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    for spec in inputs:
        require_float(spec, "numbers")
    first = inputs[0]
    for slot, spec in enumerate(inputs[1:], start=2):
        if spec.shape != first.shape:
            raise ShapeError(f"can only add equal shapes, but input 1 is {first.describe()} and input "
                             f"{slot} is {spec.describe()}: make both branches end in the same shape")
    return first


ADD = LayerType(
    "add", "Add", "merge", "Sum its inputs element by element (a residual / skip connection).",
    params=(), infer=infer_add, recipe=lambda p, i, c: Call(modules.Add), min_inputs=2, max_inputs=None)


def infer_concat(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    first = inputs[0]
    for spec in inputs:
        require_float(spec, "numbers")
    for slot, spec in enumerate(inputs[1:], start=2):
        same_rank = spec.rank == first.rank
        # Images join on channels (all but C must match); vectors/sequences on features (last).
        rest = (spec.shape[1:], first.shape[1:]) if first.rank == 3 else (spec.shape[:-1], first.shape[:-1])
        if not same_rank or rest[0] != rest[1]:
            raise ShapeError(f"cannot join input 1 ({first.describe()}) with input {slot} "
                             f"({spec.describe()}): all but the joined dimension must match")
    if first.rank == 3:
        return TensorSpec((sum(s.shape[0] for s in inputs),) + first.shape[1:])
    return TensorSpec(first.shape[:-1] + (sum(s.shape[-1] for s in inputs),))


def concat_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    return Call(modules.Concat, (1 if inputs[0].rank == 3 else -1,))  # batched channel / last dim


CONCAT = LayerType(
    "concat", "Concat", "merge",
    "Join its inputs side by side: features for vectors and sequences, channels for images.",
    params=(), infer=infer_concat, recipe=concat_recipe, min_inputs=2, max_inputs=None)
