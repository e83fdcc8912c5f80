"""Pick the training device (auto: CUDA > MPS > CPU) and describe it for the job's info."""

from __future__ import annotations

import os

import torch

DEFAULT_THREADS = 1  # measured on 2-vCPU hosts: 2 OpenMP threads were 25-50x slower beside a web server


def pick_device(choice: str) -> torch.device:
    """The device for `choice`; raise ValueError saying what to pick if it is not available."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was chosen but this server has no CUDA GPU: pick auto or cpu")
    if choice == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was chosen but this server has no Apple GPU: pick auto or cpu")
    return torch.device(choice)


def describe_device(device: torch.device) -> dict:
    """Name and memory of the device, for display."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"device": "cuda", "name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
                "bf16": torch.cuda.is_bf16_supported()}
    return {"device": device.type, "name": "CPU" if device.type == "cpu" else "Apple GPU",
            "threads": torch.get_num_threads()}


def set_worker_threads() -> int:
    """Set torch's thread count for training (DLBUILDER_TORCH_THREADS overrides the default of 1)."""
    text = os.environ.get("DLBUILDER_TORCH_THREADS", "")
    threads = int(text) if text.isdigit() and int(text) > 0 else DEFAULT_THREADS
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
