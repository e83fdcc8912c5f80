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
from dlbuilder.validation import InvalidNetwork

MAX_CHECKPOINT_BYTES = 200_000_000
MAX_HEADER_BYTES = 10_000_000  # the document is at most 1 MB; each tensor adds ~100 bytes
NOT_A_CHECKPOINT = "not a dlbuilder checkpoint (safetensors with a document)"


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
    """Rebuild the model from the embedded document and load its weights (strict: same keys, shapes).

    Every way this can fail is a CheckpointError with a one-line message.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("a checkpoint must be given as bytes (the file's content)")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint is larger than {MAX_CHECKPOINT_BYTES:,} bytes")
    data = bytes(data)
    document = _embedded_document(data)
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError, TypeError, OverflowError, RuntimeError) as error:
        raise CheckpointError(f"{NOT_A_CHECKPOINT}: {_one_line(error)}") from None
    try:
        model = compile_graph(document, device=device)
    except InvalidNetwork as error:
        raise CheckpointError(f"the network in this checkpoint is not valid ({_one_line(error.problems[0])}): "
                              "open its document in the builder to fix it, then train again") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"the weights do not fit the network in the checkpoint: {_one_line(error)}") from None
    return document, model


def _embedded_document(data: bytes) -> Document:
    """The document stored in the safetensors header's metadata (read before any tensor)."""
    header_size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or header_size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CheckpointError(f"{NOT_A_CHECKPOINT}: the header is missing or cut off")
    try:
        header = json.loads(data[8:8 + header_size])
        text = header["__metadata__"]["document"]
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise CheckpointError(f"{NOT_A_CHECKPOINT}: {_one_line(error) or 'no document inside'}") from None
    if not isinstance(text, str):
        raise CheckpointError(f"{NOT_A_CHECKPOINT}: its document is not JSON text")
    try:
        return load_document(text)
    except DocumentError as error:
        raise CheckpointError(f"the network in this checkpoint cannot be read ({_one_line(error)})") from None


def _one_line(error: object) -> str:
    """The text of an error on one line, at most 300 characters (a message for the page or CLI)."""
    return " ".join(str(error).split())[:300]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Document, GraphModel]:
    return read_checkpoint(Path(path).read_bytes(), device)
