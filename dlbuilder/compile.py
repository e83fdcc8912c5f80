"""Compile a validated document into a real nn.Module whose submodules are named by node id."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from dlbuilder.document import Document
from dlbuilder.layers import LAYERS, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.limits import ResourceLimits
from dlbuilder.modules import CrossAttention, SelfAttention
from dlbuilder.shapes import TensorSpec
from dlbuilder.validation import InvalidNetwork, ValidationReport, validate
from dlbuilder.validation.resources import training_values


@dataclass(frozen=True)
class Step:
    """One node of the forward pass: which node, and which earlier values it reads (by slot)."""

    node: str
    sources: tuple[str, ...]


@dataclass
class Captured:
    """Outputs and attention weights recorded during one `with model.capture(...)` block."""

    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    attention: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, heads, T, S)


class GraphModel(nn.Module):
    """Runs the network's nodes in topological order; `print(model)` lists them by node id."""

    def __init__(self, modules: dict[str, nn.Module], steps: list[Step], inputs: dict[str, TensorSpec],
                 output_id: str, values_per_example: int = 0):
        super().__init__()
        for node_id, module in modules.items():
            self.add_module(node_id, module)
        self.steps = steps
        self.input_ids = list(inputs)
        self.input_specs = list(inputs.values())
        self.output_id = output_id
        self.values_per_example = values_per_example  # what one example makes: bounds scoring chunks
        self._capture: Captured | None = None
        self._capture_ids: set[str] = set()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_ids):
            raise TypeError(f"this network takes {len(self.input_ids)} input(s) "
                            f"({', '.join(self.input_ids)}), got {len(inputs)}")
        values = dict(zip(self.input_ids, inputs))
        for step in self.steps:
            values[step.node] = self._modules[step.node](*(values[s] for s in step.sources))
        if self._capture is not None:
            for node_id in self._capture_ids:
                self._capture.outputs[node_id] = values[node_id].detach()
            self._record_attention()
        return values[self.output_id]

    def example_inputs(self, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Random inputs of the right shapes (token ids for token inputs), on the model's device."""
        generator = torch.Generator().manual_seed(seed)
        device = next(self.parameters(), torch.empty(0)).device
        return tuple(random_input(spec, batch, generator).to(device) for spec in self.input_specs)

    def attention_layers(self) -> dict[str, nn.Module]:
        return {name: m for name, m in self.named_children() if isinstance(m, (SelfAttention, CrossAttention))}

    def _record_attention(self) -> None:
        for name, module in self.attention_layers().items():
            if module.last_weights is not None:
                self._capture.attention[name] = module.last_weights

    @contextmanager
    def capture(self, node_ids: list[str] | None = None, attention: bool = True) -> Iterator[Captured]:
        """Record chosen nodes' outputs (all nodes if None) and attention weights of forwards inside."""
        all_ids = self.input_ids + [s.node for s in self.steps]
        unknown = set(node_ids or ()) - set(all_ids)
        if unknown:
            raise KeyError(f"no node named {sorted(unknown)[0]!r} in this network")
        captured = Captured()
        self._capture, self._capture_ids = captured, set(all_ids if node_ids is None else node_ids)
        for module in self.attention_layers().values():
            module.keep_weights = attention
        try:
            yield captured
        finally:
            self._capture, self._capture_ids = None, set()
            for module in self.attention_layers().values():
                module.keep_weights, module.last_weights = False, None


def random_input(spec: TensorSpec, batch: int, generator: torch.Generator) -> torch.Tensor:
    """A batch of random examples for `spec`: normal floats, or token ids below the vocabulary size."""
    if spec.dtype == "long":
        return torch.randint(0, spec.vocab_size, (batch, *spec.shape), generator=generator)
    return torch.randn((batch, *spec.shape), generator=generator)


Plan = tuple[dict[str, Call], list[Step], dict[str, TensorSpec], str]  # recipes, steps, inputs, output id


def plan(document: Document, report: ValidationReport) -> Plan:
    """Recipes and forward steps for a validated document (shared by compile and code export)."""
    ctx = ShapeContext(data=report.data_info)
    recipes: dict[str, Call] = {}
    steps: list[Step] = []
    inputs: dict[str, TensorSpec] = {}
    for node_id in report.order:
        node = document.node(node_id)
        sources = tuple(e.source for e in document.incoming(node_id))
        if node.type == "input":
            inputs[node_id] = report.shapes[node_id]
            if ctx.model_input is None:
                ctx = ShapeContext(data=ctx.data, model_input=report.shapes[node_id])
            continue
        recipes[node_id] = LAYERS[node.type].recipe(report.params[node_id], [report.shapes[s] for s in sources], ctx)
        steps.append(Step(node_id, sources))
    output_id = next(n.id for n in document.nodes if n.type == "output")
    return recipes, steps, inputs, output_id


def checked_report(document: Document, limits: ResourceLimits | None = None) -> ValidationReport:
    """Validate, raising InvalidNetwork with every problem if there are any."""
    report = validate(document, limits)
    if not report.ok:
        raise InvalidNetwork(report.problems)
    return report


def compile_graph(document: Document, device: torch.device | str = "cpu",
                  limits: ResourceLimits | None = None) -> GraphModel:
    """Validate and build the network as a GraphModel on `device`."""
    report = checked_report(document, limits)
    recipes, steps, inputs, output_id = plan(document, report)
    with torch.device(device):
        modules = {node_id: recipe.build() for node_id, recipe in recipes.items()}
    values = sum(training_values(document, report).values())
    return GraphModel(modules, steps, inputs, output_id, values)
