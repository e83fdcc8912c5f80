"""What a sweep can vary: `AXES` maps the name a sweep file uses to its Axis (range, help, how to apply it).

Training-setting axes change `document.training` (or the seed) and apply to any network.
Structural axes (depth, width, hidden layers, dropout, batch norm) edit the hidden Dense layers of a
plain chain (see `chain.py`); on any other network they raise AxisError saying which layer is in the way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from dlbuilder.experiments.chain import (
    MAX_HIDDEN_LAYERS,
    MAX_WIDTH,
    Chain,
    describe_widths,
    set_batchnorm,
    set_depth,
    set_dropout,
    set_width,
    set_widths,
)
from dlbuilder.training.settings import INIT_NAMES, OPTIMIZER_NAMES

MAX_SEED = 2**31 - 1
ON_WORDS = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}


class AxisError(ValueError):
    """A value or an axis that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Axis:
    """One setting a sweep varies: kind and range, a help text, example values and how it applies."""

    name: str
    title: str
    doc: str
    kind: str  # "int", "float", "choice", "bool" or "widths" (hidden layer widths, e.g. 16-16-16)
    example: str  # values as a student would type them
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    log: bool = False  # random search draws it on a log scale
    setting: str | None = None  # the training setting it sets ("seed" for the seed)
    edit: Callable[[Chain, Any], None] | None = None  # structural: how it edits the Dense chain
    order: int = 0  # structural edits apply in this order (depth before width)
    short: str = ""  # its name in a run's label ("lr 0.01"); empty: the value alone ("adam")

    @property
    def structural(self) -> bool:
        return self.edit is not None


AXES: dict[str, Axis] = {axis.name: axis for axis in (
    Axis("depth", "hidden layers (depth)", "How many hidden Dense layers (the last one is repeated or "
         f"dropped); 1 to {MAX_HIDDEN_LAYERS}. Needs a plain chain of Dense layers.", "int", "1, 2, 3, 4",
         low=1, high=MAX_HIDDEN_LAYERS, edit=lambda chain, value: set_depth(chain, value), short="depth"),
    Axis("width", "units per hidden layer (width)", f"Units of every hidden Dense layer, 1 to {MAX_WIDTH}. "
         "Needs a plain chain of Dense layers.", "int", "4, 8, 16, 32", low=1, high=MAX_WIDTH, log=True,
         edit=lambda chain, value: set_width(chain, value), order=1, short="width"),
    Axis("hidden_layers", "hidden layer widths", "Depth and widths at once, one network per value, e.g. "
         "'64; 16-16-16' (fat and shallow against thin and deep). Values are separated by ';'.", "widths",
         "64; 16-16; 10-10-10", edit=lambda chain, value: set_widths(chain, value), short="layers"),
    Axis("learning_rate", "learning rate", "Step size of each update, 1e-6 to 10.", "float",
         "0.003, 0.01, 0.03, 0.1", low=1e-6, high=10.0, log=True, setting="learning_rate", short="lr"),
    Axis("batch_size", "batch size", "Examples per update, 1 to 4096 (updates per epoch = ceil(N / batch)).",
         "int", "1, 10, 50", low=1, high=4096, log=True, setting="batch_size", short="batch"),
    Axis("l2", "L2 penalty", "Weight decay strength, 0 to 1 (0 = none).", "float", "0, 0.001, 0.01",
         low=0.0, high=1.0, log=True, setting="l2", short="L2"),
    Axis("dropout", "dropout", "Probability p of a Dropout after every hidden layer, 0 to 0.95 (0 = no "
         "Dropout). Needs a plain chain of Dense layers.", "float", "0, 0.5", low=0.0, high=0.95,
         edit=lambda chain, value: set_dropout(chain, value), order=2, short="dropout"),
    Axis("batchnorm", "batch norm", "BatchNorm between every hidden Dense and its non-linearity: on or "
         "off. Needs a plain chain of Dense layers.", "bool", "off, on",
         edit=lambda chain, value: set_batchnorm(chain, value), order=3, short="batch norm"),
    Axis("optimizer", "optimizer", "How weights move along the gradient: " + ", ".join(OPTIMIZER_NAMES) + ".",
         "choice", "sgd, momentum, adam", choices=OPTIMIZER_NAMES, setting="optimizer"),
    Axis("init", "initialisation", "How weights start: " + ", ".join(INIT_NAMES) + ".", "choice",
         "zeros, glorot_uniform", choices=INIT_NAMES, setting="init", short="init"),
    Axis("seed", "seed", f"The random seed, 0 to {MAX_SEED}: initial weights, batch order and, for generated "
         "datasets, the drawn examples.", "int", "1, 2, 3", low=0, high=MAX_SEED, setting="seed", short="seed"),
)}
# Axes that two of a sweep's axes may not share (both set the hidden widths)
OVERLAPS = ({"hidden_layers", "depth"}, {"hidden_layers", "width"})


def axis(name: str) -> Axis:
    """The Axis called `name`; AxisError listing the known ones otherwise."""
    if name not in AXES:
        raise AxisError(f"unknown sweep setting {str(name)[:40]!r}: choose one of {', '.join(AXES)}")
    return AXES[name]


def parse_value(spec: Axis, raw: Any) -> Any:
    """A typed value for `spec` from a number, a bool, a list or the text a student typed."""
    text = raw.strip() if isinstance(raw, str) else raw
    if spec.kind == "bool":
        value = ON_WORDS.get(str(text).lower()) if not isinstance(text, bool) else text
        if value is None:
            raise AxisError(f"{spec.title}: {str(text)[:20]!r} is not on or off")
        return value
    if spec.kind == "choice":
        if text not in spec.choices:
            raise AxisError(f"{spec.title}: {str(text)[:30]!r} is not one of {', '.join(spec.choices)}")
        return text
    if spec.kind == "widths":
        return _widths(spec, text)
    return _number(spec, text)


def _number(spec: Axis, text: Any) -> int | float:
    try:
        value = float(text) if not isinstance(text, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    whole = spec.kind == "int"
    if not math.isfinite(value) or (whole and not value.is_integer()) or not spec.low <= value <= spec.high:
        kind = "a whole number" if whole else "a number"
        raise AxisError(f"{spec.title}: {str(text)[:20]!r} must be {kind} from {spec.low:g} to {spec.high:g}")
    return int(value) if whole else value


def _widths(spec: Axis, text: Any) -> tuple[int, ...]:
    parts = [str(p) for p in text] if isinstance(text, (list, tuple)) else re.split(r"[-x×,\s]+", str(text))
    parts = [p for p in parts if p]
    if not 1 <= len(parts) <= MAX_HIDDEN_LAYERS or not all(p.isascii() and p.isdigit() and len(p) <= 5
                                                           and 1 <= int(p) <= MAX_WIDTH for p in parts):
        raise AxisError(f"{spec.title}: {str(text)[:30]!r} must list 1 to {MAX_HIDDEN_LAYERS} widths of 1 to "
                        f"{MAX_WIDTH} joined by '-', e.g. 16-16-16")
    return tuple(int(p) for p in parts)


def format_value(spec: Axis, value: Any) -> str:
    """A value as the table and labels show it: 0.01, on/off, 16-16-16."""
    if spec.kind == "bool":
        return "on" if value else "off"
    if spec.kind == "widths":
        return describe_widths(tuple(value))
    if spec.kind == "float":
        return f"{value:g}"
    return str(value)


def label(spec: Axis, value: Any) -> str:
    """One axis's part of a run's label: "lr 0.01", "batch norm on", "adam"."""
    return f"{spec.short} {format_value(spec, value)}" if spec.short else format_value(spec, value)


def split_values(spec: Axis, text: str) -> list[str]:
    """The typed list of values: ';' separates hidden-layer widths, ',' or ';' the others."""
    pattern = r";" if spec.kind == "widths" else r"[,;]"
    return [part.strip() for part in re.split(pattern, text) if part.strip()]
