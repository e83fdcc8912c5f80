"""Resource caps that keep one student's network from starving a shared server."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ResourceLimits:
    """Caps checked before anything is allocated; override with DLBUILDER_<FIELD> env variables."""

    max_nodes: int = 200
    max_parameters: int = 5_000_000
    max_width: int = 4096  # units, channels, hidden size, embedding size
    max_sequence_length: int = 512
    max_activation_values: int = 2_000_000  # per example, summed over all nodes
    max_input_values: int = 100_000  # per example

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ResourceLimits":
        """Defaults, overridden by e.g. DLBUILDER_MAX_PARAMETERS=20000000 (a host's choice)."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            text = environ.get(f"DLBUILDER_{spec.name.upper()}")
            if text is not None and text.strip().isdigit():
                values[spec.name] = int(text)
        return cls(**values)
