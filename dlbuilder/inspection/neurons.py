"""Every neuron's output over the input plane (TensorFlow Playground's signature view).

For 2-D datasets: the input features and each fully connected layer's units, evaluated on a
grid of the plot square in one captured forward pass, with each unit's incoming weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlbuilder.compile import GraphModel
from dlbuilder.datasets import PLAYGROUND_FEATURES, DatasetBundle, playground_features
from dlbuilder.datasets.features import selected_features
from dlbuilder.probes import evaluating, feature_params, model_device, plot_range
from dlbuilder.training.evaluation import chunk_size

RESOLUTION = 40  # grid cells per side: small maps, cheap enough to redraw while training
INPUT_LAYER = "input"


@dataclass(frozen=True)
class NeuronLayer:
    """One column of the view: its units' outputs over the grid and their incoming weights."""

    name: str  # node id, or "input" for the features
    labels: tuple[str, ...]  # one per unit: "x", "x²" for features, "dense1 #2" for neurons
    maps: np.ndarray  # (units, len(ys), len(xs)): maps[u, i, j] is unit u at (xs[j], ys[i])
    weights: np.ndarray | None  # (units, fan_in) incoming weights; None for the input features
    bias: np.ndarray | None  # (units,); zeros for a layer without bias; None for the input features
    source: int | None  # index in NeuronMaps.layers of the layer the weights read from; None if not shown
    source_labels: tuple[str, ...]  # names of the fan_in values the weights multiply


@dataclass(frozen=True)
class NeuronMaps:
    """The whole view: layers in forward order, the input features first."""

    xs: np.ndarray
    ys: np.ndarray
    layers: tuple[NeuronLayer, ...]


def linear_of(module: nn.Module) -> nn.Linear | None:
    """The nn.Linear a Dense or Output node starts with (Linear, or Sequential(Linear, activation))."""
    if isinstance(module, nn.Linear):
        return module
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], nn.Linear):
        return module[0]
    return None


def neuron_nodes(model: GraphModel) -> list[str]:
    """Node ids of the fully connected layers (dense and output), in forward order."""
    return [step.node for step in model.steps if linear_of(model.get_submodule(step.node)) is not None]


def _captured(model: GraphModel, features: torch.Tensor, node_ids: list[str]) -> dict[str, torch.Tensor]:
    """Each node's output (N, units) for `features`, captured in memory-bounded chunks."""
    device, chunk = model_device(model), chunk_size(model)
    parts: dict[str, list[torch.Tensor]] = {node: [] for node in node_ids}
    with evaluating(model), model.capture(node_ids, attention=False) as captured:
        for start in range(0, len(features), chunk):
            model(features[start:start + chunk].to(device))
            for node in node_ids:
                parts[node].append(captured.outputs[node].float().cpu())
    return {node: torch.cat(values) for node, values in parts.items()}


def neuron_maps(model: GraphModel, bundle: DatasetBundle, data_params: dict | None = None,
                resolution: int = RESOLUTION) -> NeuronMaps:
    """Every input feature's and Dense/Output unit's value over a resolution² grid of the plane."""
    if bundle.info.display != "points2d":
        raise ValueError(f"neuron maps need a 2-D dataset (circle, xor, gaussian, spiral, plane), not "
                         f"{bundle.info.display!r} data: pick one on the Build page")
    params = data_params or feature_params(bundle)
    low, high = plot_range(bundle)
    axis = torch.linspace(low, high, resolution)
    grid_y, grid_x = torch.meshgrid(axis, axis, indexing="ij")
    features = playground_features(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1), params)
    shape = (resolution, resolution)
    names = selected_features(params)
    layers = [NeuronLayer(INPUT_LAYER, tuple(PLAYGROUND_FEATURES[n].label for n in names),
                          features.T.reshape(-1, *shape).numpy(), None, None, None, ())]
    nodes = neuron_nodes(model)
    outputs = _captured(model, features, nodes)
    steps = {step.node: step for step in model.steps}
    for node in nodes:
        if outputs[node].dim() != 2:  # a Dense applied per step of a sequence: no single map per unit
            continue
        layers.append(_layer(model, node, steps[node].sources[0], outputs[node], layers, shape))
    return NeuronMaps(xs=axis.numpy(), ys=axis.numpy().copy(), layers=tuple(layers))


def _layer(model: GraphModel, node: str, source: str, output: torch.Tensor, earlier: list[NeuronLayer],
           shape: tuple[int, int]) -> NeuronLayer:
    """One Dense/Output node as a column; its weights are labelled by the layer they read from."""
    linear = linear_of(model.get_submodule(node))
    weights = linear.weight.detach().float().cpu().numpy()  # (units, fan_in)
    bias = (linear.bias.detach().float().cpu().numpy() if linear.bias is not None
            else np.zeros(len(weights), dtype=np.float32))
    if source in model.input_ids:
        source = INPUT_LAYER
    index = next((i for i, layer in enumerate(earlier) if layer.name == source), None)
    if index is not None and len(earlier[index].labels) == weights.shape[1]:
        source_labels = earlier[index].labels
    else:  # reads an Add, Concat or activation node: the view has no column for it
        index, source_labels = None, tuple(f"{source} #{k + 1}" for k in range(weights.shape[1]))
    units = output.shape[-1]
    return NeuronLayer(node, tuple(f"{node} #{u + 1}" for u in range(units)),
                       output.T.reshape(units, *shape).numpy(), weights, bias, index, source_labels)


def unit_choices(neurons: NeuronMaps) -> dict[str, tuple[int, int]]:
    """Every neuron with incoming weights, by label: label -> (layer index, unit index)."""
    return {label: (index, unit) for index, layer in enumerate(neurons.layers) if layer.weights is not None
            for unit, label in enumerate(layer.labels)}
