"""Checkpoints: weights as safetensors with the document in the file's metadata. No pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from dlbuilder.compile import GraphModel, compile_graph
from dlbuilder.document import Document, DocumentError, load_document

MAX_CHECKPOINT_BYTES = 200_000_000


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


def checkpoint_bytes(document: Document, weights: torch.nn.Module | dict) -> bytes:
    """Weights (a model or its state_dict; stored contiguous, on the CPU) plus the document JSON."""
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    tensors = {name: t.detach().cpu().contiguous() for name, t in state.items()}
    return save_tensors(tensors, metadata={"format": "dlbuilder", "document": document.to_json(indent=None)})


def save_checkpoint(path: str | Path, document: Document, model: torch.nn.Module) -> None:
    Path(path).write_bytes(checkpoint_bytes(document, model))


def read_checkpoint(data: bytes, device: str | torch.device = "cpu") -> tuple[Document, GraphModel]:
    """Rebuild the model from the embedded document and load its weights (strict: same keys, shapes)."""
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint is larger than {MAX_CHECKPOINT_BYTES:,} bytes")
    try:
        header_size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_size])
        document = load_document(header["__metadata__"]["document"])
        tensors = load_tensors(data)
    except (SafetensorError, ValueError, KeyError, TypeError, DocumentError) as error:
        raise CheckpointError(f"not a dlbuilder checkpoint (safetensors with a document): {error}") from None
    model = compile_graph(document, device=device)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"the weights do not fit the network in the checkpoint: {str(error)[:300]}") from None
    return document, model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Document, GraphModel]:
    return read_checkpoint(Path(path).read_bytes(), device)
