"""Conv2d, MaxPool2d, AvgPool2d and GlobalAvgPool."""

from __future__ import annotations

from torch import nn

from dlbuilder import modules
from dlbuilder.layers.base import LayerType, ShapeContext, activation_call, activation_param
from dlbuilder.layers.recipe import Call, sequential
from dlbuilder.params import Param
from dlbuilder.shapes import ShapeError, TensorSpec, require_rank

IMAGE_FIX = "add a Reshape to (C,H,W) before it, or remove the Flatten above it"


def sliding_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a sliding window: (N + 2P - K) / S + 1, rounded down."""
    return (size + 2 * padding - kernel) // stride + 1


def _spatial(spec: TensorSpec, kernel: int, stride: int, padding: int, what: str) -> tuple[int, int]:
    _, height, width = spec.shape
    if height + 2 * padding < kernel or width + 2 * padding < kernel:
        raise ShapeError(f"{what} {kernel}x{kernel} does not fit its {height}x{width} input "
                         f"(padding {padding}): use a smaller kernel, more padding, or less pooling before it")
    return sliding_size(height, kernel, stride, padding), sliding_size(width, kernel, stride, padding)


def infer_conv(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (3,), "an image (C,H,W)", IMAGE_FIX)
    kernel, stride, padding = params["kernel_size"], params["stride"], params["padding"]
    if padding == "same":
        if stride != 1:
            raise ShapeError("padding 'same' needs stride 1: set stride to 1 or give padding as a number")
        return TensorSpec((params["out_channels"],) + spec.shape[1:])
    height, width = _spatial(spec, kernel, stride, padding, "kernel")
    return TensorSpec((params["out_channels"], height, width))


def conv_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    (spec,) = inputs
    conv = Call(nn.Conv2d, (spec.shape[0], params["out_channels"], params["kernel_size"]),
                {"stride": params["stride"], "padding": params["padding"], "bias": params["bias"]})
    return sequential(conv, activation_call(params["activation"], spec))


CONV2D = LayerType(
    "conv2d", "Conv2d", "convolution",
    "Slide small learned filters over the image; each filter makes one output channel.",
    params=(
        Param("out_channels", "int", 8, "Number of filters (output channels).", min=1, max=100_000),
        Param("kernel_size", "int", 3, "Filter size K (K x K pixels).", min=1, max=15),
        Param("stride", "int", 1, "Step S between filter positions.", min=1, max=8),
        Param("padding", "int_or_same", 0, "Zeros added around the image: a number, or 'same' "
              "to keep H and W.", min=0, max=7),
        activation_param("relu"),
        Param("bias", "bool", True, "Add a learned bias to each filter."),
    ),
    infer=infer_conv, recipe=conv_recipe, width_params=("out_channels",))


def infer_pool(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (3,), "an image (C,H,W)", IMAGE_FIX)
    kernel, padding = params["kernel_size"], params["padding"]
    if 2 * padding > kernel:
        raise ShapeError(f"padding {padding} is more than half the kernel {kernel}: lower the padding")
    height, width = _spatial(spec, kernel, params["stride"] or kernel, padding, "window")
    return TensorSpec((spec.shape[0], height, width))


def _pool_recipe(cls: type):
    def recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
        return Call(cls, (params["kernel_size"],),
                    {"stride": params["stride"] or params["kernel_size"], "padding": params["padding"]})
    return recipe


def _pool_params() -> tuple[Param, ...]:
    return (
        Param("kernel_size", "int", 2, "Window size (K x K pixels).", min=1, max=8),
        Param("stride", "int", 0, "Step between windows (0 = same as the window).", min=0, max=8),
        Param("padding", "int", 0, "Pixels added around the image.", min=0, max=4),
    )


MAXPOOL2D = LayerType(
    "maxpool2d", "MaxPool2d", "convolution",
    "Keep the largest value in each window: smaller image, same channels.",
    params=_pool_params(), infer=infer_pool, recipe=_pool_recipe(modules.MaxPool2d))

AVGPOOL2D = LayerType(
    "avgpool2d", "AvgPool2d", "convolution",
    "Average each window: smaller image, same channels.",
    params=_pool_params(), infer=infer_pool, recipe=_pool_recipe(nn.AvgPool2d))


def infer_global_pool(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    (spec,) = inputs
    require_rank(spec, (2, 3), "an image (C,H,W) or a sequence (T,F)", "it is already a vector")
    return TensorSpec((spec.shape[0],) if spec.rank == 3 else (spec.shape[1],))


def global_pool_recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
    dims = (2, 3) if inputs[0].rank == 3 else (1,)  # batched: (B, C, H, W) or (B, T, F)
    return Call(modules.GlobalAvgPool, (dims,))


GLOBAL_AVG_POOL = LayerType(
    "global_avg_pool", "GlobalAvgPool", "convolution",
    "Average each channel over the whole image (or each feature over time): gives a vector.",
    params=(), infer=infer_global_pool, recipe=global_pool_recipe)
