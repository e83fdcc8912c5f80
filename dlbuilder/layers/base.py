"""What one entry of `LAYERS` is, plus the activation table several layers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from dlbuilder.datasets.base import DataInfo
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import TensorSpec

CATEGORIES = ("input/output", "core", "activation", "convolution", "recurrent", "attention",
              "merge", "regularisation")


@dataclass(frozen=True)
class ShapeContext:
    """What shape rules may know beyond their inputs: the dataset and the model's first input."""

    data: DataInfo | None = None
    model_input: TensorSpec | None = None
    input_index: int = 0  # for an Input node: how many Inputs come before it (the network's input order)


ShapeRule = Callable[[dict, list[TensorSpec], ShapeContext], TensorSpec]
RecipeRule = Callable[[dict, list[TensorSpec], ShapeContext], "Call | None"]


@dataclass(frozen=True)
class LayerType:
    """One layer users can place: its params, arity, shape rule and module recipe."""

    name: str
    title: str
    category: str
    doc: str
    params: tuple[Param, ...]
    infer: ShapeRule  # raises ShapeError with a message that says what to change
    recipe: RecipeRule  # None for nodes without a module (Input)
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number
    width_params: tuple[str, ...] = ()  # checked against the server's width cap

    def summary(self, params: dict) -> str:
        """Key parameters for a diagram node, e.g. "units=4, tanh"."""
        shown = []
        for index, param in enumerate(self.params):
            value = params.get(param.name, param.default)
            default = list(param.default) if isinstance(param.default, tuple) else param.default
            key = index == 0 or param.name == "activation"
            if param.kind == "bool" or value in ("identity", "", (), []) or (not key and value == default):
                continue
            shown.append(str(value) if param.name == "activation" else f"{param.name}={_short(value)}")
        return ", ".join(shown[:3])


def _short(value) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


ACTIVATIONS: dict[str, Call] = {
    "identity": Call(nn.Identity),
    "relu": Call(nn.ReLU),
    "leaky_relu": Call(nn.LeakyReLU, (0.01,)),
    "sigmoid": Call(nn.Sigmoid),
    "tanh": Call(nn.Tanh),
    "gelu": Call(nn.GELU),
    "softmax": Call(nn.Softmax, kwargs={"dim": -1}),
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)


def activation_param(default: str = "identity") -> Param:
    return Param("activation", "choice", default, "Non-linearity applied after the layer.",
                 choices=ACTIVATION_NAMES)


def activation_call(name: str, spec: TensorSpec) -> Call | None:
    """The activation module for `name`, None for identity; softmax runs over channels for images."""
    if name == "identity":
        return None
    if name == "softmax":
        return Call(nn.Softmax, kwargs={"dim": 1 if spec.rank == 3 else -1})
    return ACTIVATIONS[name]


def no_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> None:
    return None
