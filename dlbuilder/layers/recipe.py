"""A module recipe: one description that both builds an nn.Module and prints its source.

Keeping one recipe per layer guarantees the compiled model and the exported PyTorch code
construct exactly the same modules (same classes, same arguments, same state_dict keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from dlbuilder import modules


@dataclass(frozen=True)
class Call:
    """`cls(*args, **kwargs)` where arguments may themselves be Calls."""

    cls: type
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        """Instantiate the module (use a `torch.device('meta')` context to allocate nothing)."""
        args = [a.build() if isinstance(a, Call) else a for a in self.args]
        return self.cls(*args, **self.kwargs)

    def source(self) -> str:
        """Python source constructing the same module, e.g. "nn.Linear(2, 4, bias=True)"."""
        parts = [a.source() if isinstance(a, Call) else repr(a) for a in self.args]
        parts += [f"{k}={v.source() if isinstance(v, Call) else repr(v)}" for k, v in self.kwargs.items()]
        return f"{source_name(self.cls)}({', '.join(parts)})"

    def helper_classes(self) -> set[type]:
        """Classes from dlbuilder.modules this recipe uses (the exporter copies their source)."""
        found = {self.cls} if self.cls.__module__ == modules.__name__ else set()
        for value in (*self.args, *self.kwargs.values()):
            if isinstance(value, Call):
                found |= value.helper_classes()
        return found


def source_name(cls: type) -> str:
    """How generated code names `cls`: `nn.X` for torch.nn, the bare name for our helpers."""
    if cls.__module__ == modules.__name__:
        return cls.__name__
    if getattr(nn, cls.__name__, None) is cls:
        return f"nn.{cls.__name__}"
    raise ValueError(f"{cls!r} is neither in torch.nn nor in dlbuilder.modules")


def sequential(*calls: Call | None) -> Call:
    """One Call for a chain, dropping None; a single step stays unwrapped."""
    steps = tuple(c for c in calls if c is not None)
    return steps[0] if len(steps) == 1 else Call(nn.Sequential, steps)
