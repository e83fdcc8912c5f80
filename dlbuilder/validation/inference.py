"""Shape inference, parameter counting (on the meta device) and the checks that need shapes."""

from __future__ import annotations

import torch

from dlbuilder.document import Document
from dlbuilder.layers import LAYERS, ShapeContext
from dlbuilder.limits import ResourceLimits
from dlbuilder.shapes import ShapeError, TensorSpec
from dlbuilder.training.losses import LOSSES, loss_problem, resolve_loss
from dlbuilder.validation.report import Problem, ValidationReport


def count_parameters(node_type: str, params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> int:
    """Exact parameter count of a layer, built on the meta device so nothing is allocated."""
    recipe = LAYERS[node_type].recipe(params, inputs, ctx)
    if recipe is None:
        return 0
    with torch.device("meta"):
        module = recipe.build()
    return sum(p.numel() for p in module.parameters())


def check_shapes(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    """Infer every node's output in topological order; a node after a broken one is skipped quietly."""
    if not report.order:
        return  # a loop: already reported
    ctx = ShapeContext(data=report.data_info)
    for node_id in report.order:
        node = document.node(node_id)
        params = report.params.get(node_id)
        sources = [e.source for e in document.incoming(node_id)]
        if params is None or any(s not in report.shapes for s in sources) or _arity_broken(report, node_id):
            continue
        inputs = [report.shapes[s] for s in sources]
        try:
            spec = LAYERS[node.type].infer(params, inputs, ctx)
        except ShapeError as error:
            report.problems.append(Problem("shape", node_id, str(error)))
            continue
        try:
            count = count_parameters(node.type, params, inputs, ctx)
        except (RuntimeError, TypeError, OverflowError, ValueError):  # sizes beyond what torch can describe
            values = sum(s.numel for s in inputs)
            report.problems.append(Problem("limits", node_id, f"receives {values:,} values per example, too "
                                           "many to build a layer for: make the layers before it smaller"))
            continue
        report.shapes[node_id] = spec
        report.param_counts[node_id] = count
        if node.type == "input" and ctx.model_input is None:
            ctx = ShapeContext(data=ctx.data, model_input=spec)


def _arity_broken(report: ValidationReport, node_id: str) -> bool:
    return any(p.node == node_id and p.check in ("arity", "cycle") for p in report.problems)


def check_dataset_fit(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    """The first Input must take the dataset's examples; the Output must predict its targets."""
    data = report.data_info
    if data is None:
        return
    first_input = next((n for n in document.nodes if n.type == "input"), None)
    if first_input is not None and first_input.id in report.shapes:
        spec = report.shapes[first_input.id]
        if spec.shape != data.input_shape:
            report.problems.append(Problem("data", first_input.id, (
                f"has shape {list(spec.shape)} but dataset {document.data.name} gives "
                f"{list(data.input_shape)}: clear the shape to follow the dataset")))
    output = next((n for n in document.nodes if n.type == "output"), None)
    if output is None or output.id not in report.shapes:
        return
    _check_output(document, report, output.id, report.params[output.id], data)


def _check_output(document: Document, report: ValidationReport, node_id: str, params: dict, data) -> None:
    spec, name = report.shapes[node_id], document.data.name
    if params["task"] == "reconstruction":
        return
    if params["task"] != data.task:
        report.problems.append(Problem("data", node_id, f"predicts {params['task']} but {name} is a "
                                       f"{data.task} dataset: set task to {data.task}"))
        return
    wanted = data.num_classes if data.task == "classification" else data.num_targets
    allowed = {wanted, 1} if data.task == "classification" and wanted == 2 else {wanted}
    if spec.rank != 1:
        report.problems.append(Problem("data", node_id, f"makes one prediction per time step "
                                       f"{spec.label()} but {name} has one target per example: turn off "
                                       "return_sequences on the last recurrent layer or add GlobalAvgPool"))
    elif spec.shape[0] not in allowed:
        what = "classes" if data.task == "classification" else "target values"
        report.problems.append(Problem("data", node_id, f"has {spec.shape[0]} units but {name} has "
                                       f"{wanted} {what}: set units to {wanted} (or 0 to follow the dataset)"))


def check_loss_fit(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    """The chosen loss must suit the problem (classification, regression, reconstruction)."""
    output = next((n for n in document.nodes if n.type == "output"), None)
    loss = document.training.get("loss")
    if output is None or output.id not in report.shapes or loss not in LOSSES:
        return
    task = report.params[output.id]["task"]
    units = report.shapes[output.id].shape[-1]
    num_classes = report.data_info.num_classes if report.data_info else 2
    message = loss_problem(resolve_loss(loss, task, units), task, units, num_classes)
    if message:
        report.problems.append(Problem("loss", output.id, message))
