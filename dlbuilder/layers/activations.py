"""Activation functions as nodes of their own (each is also an option on Dense and Conv2d)."""

from __future__ import annotations

from torch import nn

from dlbuilder.layers.base import ACTIVATIONS, LayerType, ShapeContext, activation_call
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import TensorSpec, require_float

DOCS = {
    "relu": "max(0, x): cheap, does not saturate for x > 0.",
    "leaky_relu": "x for x > 0, slope * x below: never completely dead.",
    "sigmoid": "1 / (1 + e^-x): squashes to (0, 1); saturates, so gradients vanish in deep nets.",
    "tanh": "Squashes to (-1, 1), centred at 0.",
    "gelu": "Smooth ReLU used in Transformers.",
    "softmax": "Turns scores into probabilities that sum to 1.",
    "identity": "Passes values through unchanged (a linear 'activation').",
}
TITLES = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
          "gelu": "GELU", "softmax": "Softmax", "identity": "Identity"}


def same_shape(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_float(spec, "numbers")
    return spec


def _recipe_for(name: str):
    def recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
        if name == "leaky_relu":
            return Call(nn.LeakyReLU, (params["negative_slope"],))
        return activation_call(name, inputs[0]) or ACTIVATIONS["identity"]
    return recipe


def _params_for(name: str) -> tuple[Param, ...]:
    if name == "leaky_relu":
        return (Param("negative_slope", "float", 0.01, "Slope for negative inputs.", min=0.0, max=1.0),)
    return ()


ACTIVATION_LAYERS = {
    name: LayerType(name, TITLES[name], "activation", DOCS[name], params=_params_for(name),
                    infer=same_shape, recipe=_recipe_for(name))
    for name in ACTIVATIONS
}
