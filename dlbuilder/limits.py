"""Resource caps that keep one student's network from starving a shared server."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields

NUMBER = re.compile(r"[0-9]{1,18}")  # plain digits only: "²" is a digit to str.isdigit but not to int()


@dataclass(frozen=True)
class ResourceLimits:
    """Caps checked before anything is allocated; override with DLBUILDER_<FIELD> env variables."""

    max_nodes: int = 200
    max_parameters: int = 5_000_000
    max_width: int = 4096  # units, channels, hidden size, embedding size
    max_sequence_length: int = 512  # steps of any node's sequence output, not only the Input's
    max_activation_values: int = 2_000_000  # per example, summed over all nodes
    max_input_values: int = 100_000  # per example
    # Estimated memory of one training step at the document's batch size (activations kept for
    # the backward pass, attention weights, recurrent gates, weights + gradients + optimizer
    # state; see validation/resources.py). 2 GiB: every preset needs under 3 MB at its default
    # batch; a network of 2 M values per example fits batch 89 (it asked for 4096).
    max_training_bytes: int = 2 * 1024 ** 3

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ResourceLimits":
        """Defaults, overridden by e.g. DLBUILDER_MAX_PARAMETERS=20000000 (a host's choice)."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            text = environ.get(f"DLBUILDER_{spec.name.upper()}")
            if text is not None and NUMBER.fullmatch(text.strip()):
                values[spec.name] = int(text.strip())
        return cls(**values)
