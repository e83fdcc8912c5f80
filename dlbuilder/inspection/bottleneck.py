"""A 2-unit bottleneck (the autoencoder preset's `code`): codes of examples, decoded code plane, rebuilds.

The network is split at the bottleneck node: `encode` runs the graph up to it, `decode`
runs only the nodes after it, fed with chosen codes. That works when the output depends on
the input only through the bottleneck (no skip connection around it); `decode` says so if not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlbuilder.compile import GraphModel
from dlbuilder.probes import Reconstructions, evaluating, model_device, reconstructions
from dlbuilder.training.evaluation import chunk_size

CODE_UNITS = 2


@dataclass(frozen=True)
class CodeGrid:
    """Images decoded from a grid of codes: images (rows, columns, *example shape); row i is y = ys[i]."""

    xs: np.ndarray
    ys: np.ndarray
    images: np.ndarray


@dataclass(frozen=True)
class BottleneckView:
    """Everything the bottleneck views draw, as arrays."""

    node: str
    codes: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,) class ids (or zeros without classes)
    grid: CodeGrid
    rebuilt: Reconstructions


def find_bottleneck(model: GraphModel) -> str:
    """The first node (in forward order, not the output) whose output per example is 2 numbers."""
    inputs = model.example_inputs(batch=1)
    with evaluating(model), model.capture() as captured:
        model(*inputs)
    for step in model.steps:
        value = captured.outputs[step.node]
        if step.node != model.output_id and value.is_floating_point() and value[0].numel() == CODE_UNITS:
            return step.node
    raise ValueError("this network has no layer with 2 outputs between its input and output: "
                     "add a Dense with units=2 in the middle (as in the autoencoder preset), or name the node")


def encode(model: GraphModel, x: torch.Tensor, node: str) -> np.ndarray:
    """The bottleneck's outputs (N, 2) for examples `x`, in memory-bounded chunks."""
    x = torch.as_tensor(x)
    chunk, codes = chunk_size(model), []
    with evaluating(model), model.capture([node], attention=False) as captured:
        for start in range(0, len(x), chunk):
            model(x[start:start + chunk].to(model_device(model)))
            codes.append(captured.outputs[node].float().cpu().reshape(-1, CODE_UNITS))
    return torch.cat(codes).numpy() if codes else np.zeros((0, CODE_UNITS), np.float32)


def decode(model: GraphModel, node: str, codes) -> np.ndarray:
    """The network's output when `node` outputs `codes` (N, 2): only the nodes after it run."""
    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32).to(model_device(model))
    values = {node: codes}
    with evaluating(model):
        for step in model.steps:
            if step.node not in values and step.sources and all(s in values for s in step.sources):
                values[step.node] = model.get_submodule(step.node)(*(values[s] for s in step.sources))
    if model.output_id not in values:
        raise ValueError(f"the output does not depend on {node!r} alone (a branch goes around it): "
                         "pick the node every path to the output runs through")
    return values[model.output_id].float().cpu().numpy()


def code_grid(model: GraphModel, node: str, x_range: tuple[float, float], y_range: tuple[float, float],
              steps: int = 10) -> CodeGrid:
    """Decode a `steps` x `steps` grid of codes over the given ranges (one channel squeezed)."""
    xs = np.linspace(*x_range, steps, dtype=np.float32)
    ys = np.linspace(*y_range, steps, dtype=np.float32)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    images = decode(model, node, np.stack([grid_x.ravel(), grid_y.ravel()], axis=1))  # (steps*steps, ...)
    if images.ndim == 4 and images.shape[1] == 1:  # (N, 1, H, W) -> (N, H, W)
        images = images[:, 0]
    return CodeGrid(xs, ys, images.reshape(steps, steps, *images.shape[1:]))


def code_range(codes: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """The box around the codes (1st to 99th percentile, padded by `margin`), per axis."""
    if len(codes) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    low, high = np.percentile(codes, [1, 99], axis=0)
    pad = np.maximum((high - low) * margin, 1e-3)
    return (float(low[0] - pad[0]), float(high[0] + pad[0])), (float(low[1] - pad[1]), float(high[1] + pad[1]))


def bottleneck_view(model: GraphModel, x: torch.Tensor, y: torch.Tensor | None = None, node: str | None = None,
                    steps: int = 10, count: int = 8) -> BottleneckView:
    """Codes of `x` (with class ids `y`), a decoded `steps` x `steps` grid over them, `count` rebuilds."""
    node = node or find_bottleneck(model)
    codes = encode(model, x, node)
    labels = np.zeros(len(codes), np.int64) if y is None else np.asarray(torch.as_tensor(y).cpu()).reshape(-1)
    grid = code_grid(model, node, *code_range(codes), steps=steps)
    return BottleneckView(node, codes, labels, grid, reconstructions(model, x, count))
