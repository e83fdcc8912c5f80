"""Pick the training device (auto: CPU for small networks, else CUDA > MPS > CPU) and describe it."""

from __future__ import annotations

import os

import torch

DEFAULT_THREADS = 1  # measured on 2-vCPU hosts: 2 OpenMP threads were 25-50x slower beside a web server

# device=auto trains a network on the CPU when its estimated work per update, batch size x
# (parameters + activation values per example) ~ multiply-adds of the forward pass, is at most
# this. A GPU update costs a fixed ~0.3-1 ms of kernel launches (forward, backward, optimizer)
# however small the net: Playground-sized nets (a few hundred to ~10^4 multiply-adds per update)
# measured 2-2.5x slower on an H100 than on one CPU thread, and on a GPU they also lose the NumPy
# fast path (another ~10x). One CPU thread does some 2-10 GFLOP/s on such small matrices, so
# forward + backward (~6 FLOP per multiply-add) of 10^6 multiply-adds takes ~1 ms: about where a
# GPU's fixed cost starts to pay off. DLBUILDER_CPU_MAX_WORK overrides it (0 = GPU whenever there is one).
CPU_MAX_WORK = 1_000_000


def cpu_max_work() -> int:
    """CPU_MAX_WORK, or the whole number in DLBUILDER_CPU_MAX_WORK when that is set."""
    text = os.environ.get("DLBUILDER_CPU_MAX_WORK", "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else CPU_MAX_WORK


def pick_device(choice: str, work: int | None = None) -> torch.device:
    """The device for `choice` (auto: the CPU when `work` per update is small); ValueError if unavailable."""
    if choice == "auto":
        if work is not None and work <= cpu_max_work():
            return torch.device("cpu")
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
