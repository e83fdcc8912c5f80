"""Server caps: parameters, values per example, sequence lengths, and one training step's memory.

Memory is estimated from the shapes alone, before anything is allocated:

    bytes = 4 * batch * KEPT_PER_VALUE * (values every node keeps per example)
          + 4 * COPIES_PER_PARAMETER * parameters

A node keeps its output (plus, for attention, the queries, keys, values and the (heads, T, S)
attention weights; for a recurrent layer, its gates and states at every step). The factor 3
covers what the backward pass adds: the output is saved for the backward pass, a node often
saves one more tensor of the same size inside it (the pre-activation of Dense + ReLU), and
the backward pass makes a gradient of the same size. Parameters count five times: weights,
gradients, Adam's two moments and the optimizer's temporaries.

Measured on CPU (growth of peak RSS over two Adam steps, torch 1 thread) against this estimate:
an MLP 1000-2000-2000-1 at batch 512: 137-141 MB measured / 144 MB estimated; two 32-channel
convs on 3x64x64 at batch 64: 179 / 201 MB; an LSTM (500 steps, hidden 256) at batch 64:
599 / 759 MB. Attention on PyTorch's fused CPU/GPU kernels does not store the (T, S) weights,
so it is overestimated there (90-97 MB measured / 1.5 GB estimated for 8 heads x 500
steps at batch 64); the plain path and captured weights do store them, and the compute
grows with T x S anyway.
"""

from __future__ import annotations

from dlbuilder.document import Document
from dlbuilder.limits import ResourceLimits
from dlbuilder.params import ParamError, check_value
from dlbuilder.shapes import TensorSpec
from dlbuilder.training.settings import TRAINING_PARAMS
from dlbuilder.validation.report import Problem, ValidationReport

BYTES_PER_VALUE = 4  # float32
KEPT_PER_VALUE = 3
COPIES_PER_PARAMETER = 5
GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # gate pre-activations per hidden unit and step
BATCH_PARAM = next(p for p in TRAINING_PARAMS if p.name == "batch_size")
ADVICE = {
    "attention": "shorten the sequence or use fewer heads",
    "recurrent": "shorten the sequence, or use a smaller hidden_size or fewer num_layers",
    "other": "use fewer units or channels, or pool earlier",
}


def _is_sequence(spec: TensorSpec) -> bool:
    return spec.rank == 2 or spec.dtype == "long"


def node_values(node_type: str, params: dict, inputs: list[TensorSpec], output: TensorSpec) -> int:
    """Values one example keeps in this node during a training step (before KEPT_PER_VALUE)."""
    if node_type in ("self_attention", "cross_attention"):
        return _attention_values(node_type, params["num_heads"], inputs, output)
    if node_type == "positional_encoding":
        return output.numel  # the sum; a learned table counts as parameters, sine waves are made once a batch
    if node_type in GATES:
        steps = inputs[0].shape[0]
        per_step = params["hidden_size"] * (GATES[node_type] + 2)  # gates, cell and hidden state
        directions = 2 if params["bidirectional"] else 1
        return output.numel + steps * per_step * directions * params["num_layers"]
    return output.numel


def _attention_values(node_type: str, heads: int, inputs: list[TensorSpec], output: TensorSpec) -> int:
    cross = node_type == "cross_attention"
    steps, features = inputs[0].shape
    memory_steps = inputs[1 if cross else 0].shape[0]
    projections = steps * features + 2 * memory_steps * features  # queries, keys, values
    weights = heads * steps * memory_steps
    mask = 0
    if len(inputs) == (3 if cross else 2):  # the last input is the padding mask's token ids
        mask = heads * memory_steps if cross else heads * steps * steps  # as the float mask attention adds
    return output.numel + projections + weights + mask


def _kind(node_type: str) -> str:
    if node_type in ("self_attention", "cross_attention", "positional_encoding"):
        return "attention"
    return "recurrent" if node_type in GATES else "other"


def check_resources(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    """Server caps on parameters, activation size, sequence length and training memory."""
    total = report.total_params
    if total > limits.max_parameters:
        biggest = max(report.param_counts, key=report.param_counts.get)
        report.problems.append(Problem("limits", biggest, (
            f"the network has {total:,} parameters; this server allows {limits.max_parameters:,}. "
            f"{biggest} alone has {report.param_counts[biggest]:,}: make it smaller")))
    values = sum(spec.numel for spec in report.shapes.values())
    if values > limits.max_activation_values:
        report.problems.append(Problem("limits", None, (
            f"one example produces {values:,} intermediate values; this server allows "
            f"{limits.max_activation_values:,}: use fewer channels or pool earlier")))
    sizes_ok = _check_node_shapes(document, report, limits)
    if sizes_ok and values <= limits.max_activation_values:
        _check_training_memory(document, report, limits)


def _check_node_shapes(document: Document, report: ValidationReport, limits: ResourceLimits) -> bool:
    """Input sizes, and sequence length at every node that makes a too-long sequence; True if all fit."""
    ok = True
    for node in document.nodes:
        spec = report.shapes.get(node.id)
        if spec is None:
            continue
        if node.type == "input" and spec.numel > limits.max_input_values:
            ok = False
            report.problems.append(Problem("limits", node.id, f"one example has {spec.numel:,} values; this "
                                           f"server allows {limits.max_input_values:,}"))
        if not _is_sequence(spec) or spec.shape[0] <= limits.max_sequence_length:
            continue
        ok = False
        inputs = [report.shapes.get(e.source) for e in document.incoming(node.id)]
        if any(s is not None and _is_sequence(s) and s.shape[0] > limits.max_sequence_length for s in inputs):
            continue  # the long sequence is made earlier: one message, where it starts
        if node.type == "input":
            report.problems.append(Problem("limits", node.id, f"sequences of {spec.shape[0]} steps are longer "
                                           f"than this server's {limits.max_sequence_length}: shorten them"))
        else:
            report.problems.append(Problem("limits", node.id, (
                f"makes sequences of {spec.shape[0]} steps; this server allows {limits.max_sequence_length}: "
                "make fewer, longer steps (e.g. Reshape to fewer rows) or use a shorter input")))
    return ok


def training_values(document: Document, report: ValidationReport) -> dict[str, int]:
    """Values each node keeps per example during a training step (nodes with known shapes)."""
    kept = {}
    for node_id, output in report.shapes.items():
        node = document.node(node_id)
        inputs = [report.shapes[e.source] for e in document.incoming(node_id) if e.source in report.shapes]
        kept[node_id] = node_values(node.type, report.params.get(node_id, {}), inputs, output)
    return kept


def training_bytes(per_example_values: int, parameters: int, batch_size: int) -> int:
    """Estimated bytes of one training step (see the module docstring)."""
    activations = BYTES_PER_VALUE * KEPT_PER_VALUE * per_example_values * batch_size
    return activations + BYTES_PER_VALUE * COPIES_PER_PARAMETER * parameters


def _check_training_memory(document: Document, report: ValidationReport, limits: ResourceLimits) -> None:
    try:
        batch = check_value(BATCH_PARAM, document.training.get("batch_size", BATCH_PARAM.default))
    except ParamError:
        return  # already reported by check_settings
    kept = training_values(document, report)
    per_example = sum(kept.values())
    needed = training_bytes(per_example, report.total_params, batch)
    if not kept or needed <= limits.max_training_bytes:
        return
    fixed = training_bytes(0, report.total_params, 1)
    fits = (limits.max_training_bytes - fixed) // training_bytes(per_example, 0, 1)
    biggest = max(kept, key=kept.get)
    share = f"{biggest} keeps {kept[biggest]:,} of the {per_example:,} values per example"
    advice = ADVICE[_kind(document.node(biggest).type)]
    fix = f"set batch_size to {fits} or less, or {advice}" if fits >= 1 else f"even batch size 1 does not fit: {advice}"
    report.problems.append(Problem("limits", biggest, (
        f"training at batch size {batch} needs about {_size(needed)} of memory; this server allows "
        f"{_size(limits.max_training_bytes)} ({share}): {fix}")))


def _size(count: int) -> str:
    return f"{count / 1024 ** 3:.1f} GB" if count >= 1024 ** 3 else f"{count / 1024 ** 2:.0f} MB"
