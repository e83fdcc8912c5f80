"""Shape inference, parameter counting (on the meta device) and the checks that need shapes."""

from __future__ import annotations

from dataclasses import replace

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
    inputs_before = 0  # Inputs earlier in the order: which of the dataset's inputs an Input takes
    for node_id in report.order:
        node = document.node(node_id)
        params = report.params.get(node_id)
        sources = [e.source for e in document.incoming(node_id)]
        if node.type == "input":
            inputs_before += 1
        if params is None or any(s not in report.shapes for s in sources) or _arity_broken(report, node_id):
            continue
        inputs = [report.shapes[s] for s in sources]
        node_ctx = replace(ctx, input_index=inputs_before - 1) if node.type == "input" else ctx
        try:
            spec = LAYERS[node.type].infer(params, inputs, node_ctx)
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
    """Each Input must take the dataset's matching input; the Output must predict its targets."""
    data = report.data_info
    if data is None:
        return
    _check_inputs(document, report, data)
    output = next((n for n in document.nodes if n.type == "output"), None)
    if output is None or output.id not in report.shapes:
        return
    _check_output(document, report, output.id, report.params[output.id], data)


def _check_inputs(document: Document, report: ValidationReport, data) -> None:
    """The k-th Input (in the network's input order) against the dataset's k-th input."""
    order = report.order or [n.id for n in document.nodes]
    input_ids = [i for i in order if document.node(i).type == "input"]
    given, name = data.inputs(), document.data.name
    for index, node_id in enumerate(input_ids):
        if node_id not in report.shapes or index >= len(given):
            continue  # an Input past the dataset's inputs without a shape is already a shape problem
        spec, wanted = report.shapes[node_id], given[index]
        if spec.shape != wanted.shape:
            report.problems.append(Problem("data", node_id, (
                f"has shape {list(spec.shape)} but dataset {name} gives {list(wanted.shape)}"
                f"{'' if index == 0 else f' as {wanted.name}'}: clear the shape to follow the dataset")))
        elif (spec.dtype == "long") != (wanted.dtype == "long"):
            what, fix = (("token ids", "set dtype to tokens and add an Embedding after it")
                         if wanted.dtype == "long" else ("numbers", "set dtype to float"))
            report.problems.append(Problem("data", node_id, f"dataset {name} gives {what}: {fix}"))
        elif spec.vocab_size < wanted.vocab_size:
            report.problems.append(Problem("data", node_id, (
                f"has vocab_size {spec.vocab_size} but dataset {name} uses {wanted.vocab_size} tokens: "
                "set vocab_size to 0 to follow the dataset")))
    if len(input_ids) < len(given):
        names = ", ".join(i.name for i in given[len(input_ids):])
        report.problems.append(Problem("data", None, (
            f"dataset {name} gives {len(given)} inputs but the network has {len(input_ids)} Input(s): "
            f"add an Input for {names}")))


def _check_output(document: Document, report: ValidationReport, node_id: str, params: dict, data) -> None:
    spec, name = report.shapes[node_id], document.data.name
    if params["task"] == "reconstruction":
        return
    if params["task"] != data.task:
        report.problems.append(Problem("data", node_id, f"predicts {params['task']} but {name} is a "
                                       f"{data.task} dataset: set task to {data.task}"))
        return
    if data.target_steps:
        _check_steps(report, node_id, spec, name, data)
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


def _check_steps(report: ValidationReport, node_id: str, spec, name: str, data) -> None:
    """Per-step targets (tagging, seq2seq): the output must be (target_steps, num_classes)."""
    steps, classes = data.target_steps, data.num_classes
    if spec.rank != 2:
        report.problems.append(Problem("data", node_id, (
            f"makes one prediction {spec.label()} per example but {name} has a target at each of "
            f"{steps} time steps: keep return_sequences on in the recurrent layers and do not pool over time")))
    elif spec.shape[0] != steps:
        report.problems.append(Problem("data", node_id, (
            f"predicts {spec.shape[0]} time steps but {name} has targets for {steps}: feed it from the "
            "sequence whose steps it tags (the decoder in a seq2seq network)")))
    elif spec.shape[1] != classes:
        report.problems.append(Problem("data", node_id, (
            f"has {spec.shape[1]} units but {name} has {classes} classes per step: set units to {classes} "
            "(or 0 to follow the dataset)")))


def check_loss_fit(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    """The chosen loss must suit the problem (classification, regression, reconstruction)."""
    output = next((n for n in document.nodes if n.type == "output"), None)
    loss = document.training.get("loss")
    if output is None or output.id not in report.shapes or loss not in LOSSES:
        return
    task = report.params[output.id]["task"]
    units = report.shapes[output.id].shape[-1]
    num_classes = report.data_info.num_classes if report.data_info else 2
    resolved = resolve_loss(loss, task, units)
    message = loss_problem(resolved, task, units, num_classes)
    steps = report.data_info.target_steps if report.data_info else 0
    if not message and steps and task == "classification" and resolved != "cross_entropy":
        # padded steps have no class (their target is -100), so only cross-entropy can skip them
        message = (f"loss {resolved} cannot score a class at each time step: padded steps have no class "
                   "to compare with; use cross_entropy (or auto), which skips them")
    if message:
        report.problems.append(Problem("loss", output.id, message))
