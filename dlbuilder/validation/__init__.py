"""Validate a document: every problem at once, plus per-node shapes and parameter counts."""

from __future__ import annotations

from dlbuilder.document import Document
from dlbuilder.limits import ResourceLimits
from dlbuilder.validation.inference import check_dataset_fit, check_loss_fit, check_shapes
from dlbuilder.validation.report import InvalidNetwork, Problem, ValidationReport
from dlbuilder.validation.resources import check_resources
from dlbuilder.validation.structure import (
    build_graph,
    check_arity,
    check_cycles,
    check_edges,
    check_ends,
    check_node_count,
    check_params_of_nodes,
    check_reachable,
    check_settings,
)

# Order matters: later checks read what earlier ones filled into the report
# (cleaned params, dataset info, topological order, shapes).
CHECKS = (
    check_settings,
    check_params_of_nodes,
    check_edges,
    check_cycles,
    check_ends,
    check_arity,
    check_reachable,
    check_shapes,
    check_dataset_fit,
    check_loss_fit,
    check_resources,
)


def validate(document: Document, limits: ResourceLimits | None = None) -> ValidationReport:
    """Run every check and return the report; a bad network never raises here.

    Without `limits`, the server's caps are read from the DLBUILDER_* environment variables
    (a few lookups, cheap enough for every page rerun).
    """
    limits = limits or ResourceLimits.from_env()
    report = ValidationReport()
    if len(document.nodes) > limits.max_nodes:
        check_node_count(document, report, limits)
        return report  # too big to look at further on a shared server
    for check in CHECKS:
        check(document, report, limits)
    return report


__all__ = ["CHECKS", "InvalidNetwork", "Problem", "ValidationReport", "build_graph", "validate"]
