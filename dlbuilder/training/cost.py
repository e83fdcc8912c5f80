"""What a job will cost before it runs: time on this host, memory, CPU or GPU.

The scheduler uses it three ways: admission (a run that would take hours here is refused before it
starts, with the estimate and what to shrink), placement (`device=auto`: the CPU for small networks,
the GPU above CPU_MAX_WORK) and the queue's "about 20 s" (the remaining time of the runs ahead).

Time is estimated from the shapes alone, as parameters x examples x epochs in disguise:

    seconds = epochs * (updates * STEP_SECONDS[path] + 6 * train_examples * per_example / FLOPS[device]
                        + EPOCH_SECONDS + 2 * eval_examples * per_example / FLOPS[device])

where per_example ~ the forward pass's multiply-adds (parameters + activation values, as in
`training.setup`) and 6 = forward + backward FLOPs per multiply-add. Tiny networks are all step
overhead (STEP_SECONDS), large ones all arithmetic (FLOPS). `bench/job_cost.py` prints estimate
against measured time for the presets (constants below: measured on this 2-vCPU host, 1 torch thread).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from dlbuilder.datasets.common import split_sizes
from dlbuilder.datasets.csv_read import MAX_ROWS
from dlbuilder.document import Document
from dlbuilder.training import fastpath
from dlbuilder.training.device import cpu_max_work
from dlbuilder.validation import validate
from dlbuilder.validation.resources import training_bytes, training_values

# Seconds of framework overhead per update: the NumPy fast path (Playground MLPs), torch on the
# CPU, torch on a GPU (kernel launches; the step waits on none of them, but the optimizer's are many).
STEP_SECONDS = {"fast": 0.00012, "cpu": 0.0006, "cuda": 0.0008}
FLOPS = {"cpu": 12e9, "cuda": 2e12}  # sustained on small matrices: one CPU thread here; a datacentre GPU
# A recurrent layer runs one small kernel chain per time step, forward and backward: its own overhead
# per update, per step and layer (parity's 16-step RNN: ~2 ms an update, ~4x its arithmetic).
RECURRENT_STEP_SECONDS = 0.0001
EPOCH_SECONDS = 0.0015  # per epoch: the shuffle, the evaluation's fixed costs, the records
EVAL_EXAMPLES = 1000  # examples scored per epoch (train sample + validation or test), roughly
DEFAULT_MAX_JOB_SECONDS = 20 * 60  # DLBUILDER_MAX_JOB_MINUTES: longer runs are refused
DEFAULT_GPU_MEMORY_FRACTION = 0.8  # DLBUILDER_GPU_MEMORY_FRACTION: the GPU memory jobs may take in all
KNOWN_SIZES = {"digits": 1797}
ATTENTION = ("self_attention", "cross_attention")
LOOKUPS = ("embedding", "positional_encoding")  # datasets whose size no parameter gives


@dataclass(frozen=True)
class JobCost:
    """A job's size and its estimated cost on a device ("cpu" or "cuda")."""

    device: str
    parameters: int
    per_example: int  # ~ multiply-adds of one example's forward pass
    train_examples: int
    updates_per_epoch: int
    epochs: int
    memory_bytes: int  # one training step at the document's batch size (validation/resources.py)
    seconds: float

    @property
    def work_per_update(self) -> int:
        return self.per_example * min(self.batch, self.train_examples)

    @property
    def batch(self) -> int:
        return max(1, math.ceil(self.train_examples / max(1, self.updates_per_epoch)))


def max_job_seconds() -> float:
    """DLBUILDER_MAX_JOB_MINUTES (whole minutes, 0 = no limit) in seconds; 20 minutes by default."""
    text = os.environ.get("DLBUILDER_MAX_JOB_MINUTES", "").strip()
    if text.isascii() and text.isdigit() and len(text) < 9:
        return int(text) * 60.0 if int(text) > 0 else math.inf
    return float(DEFAULT_MAX_JOB_SECONDS)


def env_int(name: str, default: int, low: int = 1, high: int = 10_000) -> int:
    """The whole number in environment variable `name` when it lies in [low, high], else `default`."""
    text = os.environ.get(name, "").strip()
    return int(text) if text.isascii() and text.isdigit() and low <= int(text) <= high else default


def gpu_budget_bytes() -> int:
    """The GPU memory the scheduler hands out: DLBUILDER_GPU_MEMORY_FRACTION (default 0.8) of device 0."""
    if not torch.cuda.is_available():
        return 0
    try:
        fraction = float(os.environ.get("DLBUILDER_GPU_MEMORY_FRACTION", DEFAULT_GPU_MEMORY_FRACTION))
    except ValueError:
        fraction = DEFAULT_GPU_MEMORY_FRACTION
    fraction = min(1.0, max(0.0, fraction)) if math.isfinite(fraction) else DEFAULT_GPU_MEMORY_FRACTION
    return int(torch.cuda.get_device_properties(0).total_memory * fraction)


def train_examples(document: Document) -> int:
    """Training examples per epoch, from the dataset's parameters (no data is generated)."""
    data = document.data
    params = data.params if data is not None else {}
    if data is None:
        return 0
    if "num_samples" in params:
        total = params["num_samples"]
    elif "num_days" in params:
        total = params["num_days"] - params.get("window", 0) - params.get("horizon", 1) + 1
    elif "num_steps" in params:
        total = params["num_steps"] - params.get("window", 0) - params.get("horizon", 1) + 1
    elif "max_train" in params:  # MNIST-like: its own test set; validation comes out of the training part
        total = params["max_train"]
        fit = total - int(total * params.get("val_fraction", 0.0) + 0.5)
        return _subset(document, fit)
    else:  # a fixed set (digits) or an uploaded CSV (at most MAX_ROWS rows: its size is not in the link)
        total = KNOWN_SIZES.get(data.name, MAX_ROWS)
    try:
        train, _, _ = split_sizes(max(1, int(total)), params.get("train_fraction", 0.8), params.get("val_fraction", 0.0))
    except ValueError:  # (too few examples: the job's own start says so)
        train = 1
    return _subset(document, train)


def _subset(document: Document, count: int) -> int:
    subset = document.training.get("subset", 0)
    return max(1, min(count, subset) if subset else count)


def estimate(document: Document, device: str | None = None, gpu: bool | None = None) -> JobCost:
    """The job's size and cost on `device`; None: where the document's device (auto: by size) puts it on a
    server with a CUDA GPU (`gpu`; None: this one's).

    Raises ValueError when the network does not validate (the message says what to fix).
    """
    report = validate(document)
    if not report.ok:
        raise ValueError("; ".join(str(problem) for problem in report.problems[:3]))
    kept = training_values(document, report)
    values = sum(kept.values())
    # multiply-adds of one example's forward pass: each weight once per position it is applied at, plus
    # every output value (element-wise work) and attention's (T, S) scores and mixing
    per_example = sum(count * _positions(document.node(node).type, report.shapes[node])
                      for node, count in report.param_counts.items() if node in report.shapes)
    per_example += sum(spec.numel for spec in report.shapes.values())
    per_example += sum(kept[node.id] for node in document.nodes if node.type in ATTENTION and node.id in kept)
    examples = train_examples(document)
    batch = min(document.training["batch_size"], examples)
    updates = math.ceil(examples / batch)
    epochs = document.training["epochs"]
    memory = training_bytes(values, report.total_params, batch)
    chosen = device or document.training.get("device", "auto")
    if gpu is None:
        gpu = torch.cuda.is_available()
    if chosen == "auto":
        chosen = "cuda" if gpu and batch * per_example > cpu_max_work() else "cpu"
    kind = "cuda" if chosen == "cuda" else "cpu"
    path = "fast" if kind == "cpu" and fastpath.likely(document) else kind
    flops = FLOPS[kind]
    recurrent = sum(_recurrent_steps(node, report) for node in document.nodes)
    per_epoch = (updates * (STEP_SECONDS[path] + recurrent * RECURRENT_STEP_SECONDS) + 6 * examples * per_example / flops + EPOCH_SECONDS
                 + 2 * min(EVAL_EXAMPLES, examples) * per_example / flops)
    return JobCost(device=kind, parameters=report.total_params, per_example=per_example, train_examples=examples,
                   updates_per_epoch=updates, epochs=epochs, memory_bytes=memory, seconds=epochs * per_epoch)


def _positions(node_type: str, spec) -> int:
    """How many times a node's weights are applied per example: once per pixel of a convolution's
    (C, H, W) output, once per step of a (T, F) sequence; lookups (embeddings) use one row per step."""
    if node_type in LOOKUPS:
        return 0  # (their work is their output, counted with every node's)
    if node_type == "conv2d" and spec.rank == 3:
        return spec.numel // max(1, spec.shape[0])
    if spec.rank == 2:
        return spec.shape[0]
    return 1


def _recurrent_steps(node, report) -> int:
    """Time steps x layers x directions a recurrent node runs one after another (0 for other nodes)."""
    if node.type not in ("rnn", "lstm", "gru") or node.id not in report.shapes:
        return 0
    params = report.params.get(node.id, {})
    steps = report.shapes[node.id].shape[0] if report.shapes[node.id].rank == 2 else 1
    return steps * params.get("num_layers", 1) * (2 if params.get("bidirectional") else 1)


def describe_seconds(seconds: float) -> str:
    """"about 20 s", "about 4 min", "about 3 h": rounded for people."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def refusal(cost: JobCost, limit: float) -> str | None:
    """Why this run is refused on this server (None when it may run): the estimate and what to shrink."""
    if cost.seconds <= limit:
        return None
    factor = cost.seconds / limit
    shrink = []
    if cost.epochs > 1:
        shrink.append(f"fewer epochs (at most {max(1, int(cost.epochs / factor)):,})")
    if cost.parameters * cost.train_examples > 10 ** 8:
        shrink.append("a smaller network (fewer units or layers)")
    if cost.train_examples > 1000:
        shrink.append("fewer training examples (the dataset's size, or the training subset)")
    if cost.device == "cpu" and cost.updates_per_epoch > 100:
        shrink.append("a larger batch size (fewer updates per epoch)")
    return (f"This run would take {describe_seconds(cost.seconds)} on this server ({cost.epochs:,} epochs x "
            f"{cost.updates_per_epoch:,} updates of {cost.parameters:,} parameters on {cost.train_examples:,} "
            f"examples); the limit here is {describe_seconds(limit)}. Use " + ", or ".join(shrink or ["less"]) + ".")
