"""What validation returns: every problem found, plus the shapes and counts it could infer."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlbuilder.datasets.base import DataInfo
from dlbuilder.shapes import TensorSpec


@dataclass(frozen=True)
class Problem:
    """One thing to fix: which check found it, which node (if any), and what to change."""

    check: str
    node: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.node}: {self.message}" if self.node else self.message


@dataclass
class ValidationReport:
    """All problems plus what could be inferred: per-node shapes, parameter counts, order."""

    problems: list[Problem] = field(default_factory=list)
    shapes: dict[str, TensorSpec] = field(default_factory=dict)
    param_counts: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological, when the graph has no cycle
    params: dict[str, dict] = field(default_factory=dict)  # cleaned parameter values per node
    data_info: DataInfo | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_params(self) -> int:
        return sum(self.param_counts.values())

    def problems_for(self, node_id: str) -> list[Problem]:
        return [p for p in self.problems if p.node == node_id]

    def to_dict(self) -> dict:
        """JSON-ready summary (the CLI's --json output)."""
        return {
            "valid": self.ok,
            "problems": [{"check": p.check, "node": p.node, "message": p.message} for p in self.problems],
            "nodes": {node_id: {"shape": list(self.shapes[node_id].shape) if node_id in self.shapes else None,
                                "parameters": self.param_counts.get(node_id)} for node_id in self.order},
            "total_parameters": self.total_params,
        }


class InvalidNetwork(ValueError):
    """Raised by compile when validation finds problems; `problems` lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
