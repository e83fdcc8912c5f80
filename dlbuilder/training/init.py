"""Weight initialisation schemes (Glorot, He, zeros, Playground's uniform)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)

WEIGHT_INITS: dict[str, Callable[[torch.Tensor], object]] = {
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
    "he_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "zeros": nn.init.zeros_,
    "uniform": lambda w: nn.init.uniform_(w, -0.5, 0.5),
}
# Playground starts every bias at 0.1; the other schemes start biases at 0.
BIAS_VALUES = {"uniform": 0.1}


def initialise(model: nn.Module, scheme: str) -> None:
    """Re-initialise weight matrices and biases in place; "default" keeps PyTorch's own init."""
    if scheme == "default":
        return
    init_weight = WEIGHT_INITS[scheme]
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NORM_TYPES):
                continue  # norms start as the identity: scale 1, shift 0
            for name, param in module.named_parameters(recurse=False):
                if param.dim() >= 2:
                    init_weight(param)
                elif "bias" in name:
                    param.fill_(BIAS_VALUES.get(scheme, 0.0))
