"""Typed parameter schemas shared by layers, datasets and training settings.

A `Param` describes one user-editable value: its kind, default, range and a one-line
doc. `check_value` turns a raw JSON value into a clean Python value or an error message
that says what to change; nothing here ever evaluates user text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "float", "bool", "choice", "ints", "int_or_same", "str")


@dataclass(frozen=True)
class Param:
    """One editable value: name, kind, default, range or choices, and a one-line doc."""

    name: str
    kind: str
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    max_items: int = 4  # for "ints"
    max_length: int = 200  # for "str"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}")

    def describe_range(self) -> str:
        """Say in words which values are allowed ("an integer from 1 to 4096")."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return f"a text of at most {self.max_length} characters"
        noun = {"int": "an integer", "float": "a number", "ints": "a list of integers",
                "int_or_same": "an integer or 'same'"}[self.kind]
        if self.min is not None and self.max is not None:
            return f"{noun} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f"{noun} of at least {_fmt(self.min)}"
        return noun


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


class ParamError(ValueError):
    """A value that does not fit its `Param`; the message says what is allowed."""


def check_value(param: Param, value: Any) -> Any:
    """Return `value` cleaned for `param`, or raise ParamError saying what is allowed."""
    kind = param.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ParamError(f"{param.name} must be true or false, got {_show(value)}")
    if kind == "choice":
        if isinstance(value, str) and value in param.choices:
            return value
        raise ParamError(f"{param.name} must be {param.describe_range()}, got {_show(value)}")
    if kind == "str":
        if isinstance(value, str) and len(value) <= param.max_length:
            return value
        raise ParamError(f"{param.name} must be {param.describe_range()}")
    if kind == "ints":
        return _check_ints(param, value)
    if kind == "int_or_same" and value == "same":
        return value
    number = _check_number(param, value, integer=kind in ("int", "int_or_same"))
    return number


def _check_number(param: Param, value: Any, integer: bool) -> int | float:
    ok_type = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not ok_type:
        if integer and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        else:
            raise ParamError(f"{param.name} must be {param.describe_range()}, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{param.name} must be a finite number, got {value}")
    if (param.min is not None and value < param.min) or (param.max is not None and value > param.max):
        raise ParamError(f"{param.name} must be {param.describe_range()}, got {_show(value)}")
    return value


def _check_ints(param: Param, value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > param.max_items:
        raise ParamError(
            f"{param.name} must be a list of at most {param.max_items} integers, got {_show(value)}")
    item = Param(param.name, "int", 0, param.doc, min=param.min, max=param.max)
    return tuple(_check_number(item, v, integer=True) for v in value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_params(schema: tuple[Param, ...], values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check every value against `schema`; return the cleaned dict and all error messages."""
    cleaned: dict[str, Any] = {}
    errors: list[str] = []
    for param in schema:
        try:
            cleaned[param.name] = check_value(param, values.get(param.name, param.default))
        except ParamError as error:
            errors.append(str(error))
    return cleaned, errors


def fill_defaults(schema: tuple[Param, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Return `values` with every missing parameter set to its default (order of the schema)."""
    return {p.name: values.get(p.name, _json_default(p.default)) for p in schema}


def _json_default(default: Any) -> Any:
    return list(default) if isinstance(default, tuple) else default


def unknown_keys(schema: tuple[Param, ...], values: dict[str, Any]) -> list[str]:
    """Names in `values` that `schema` does not define."""
    known = {p.name for p in schema}
    return [k for k in values if k not in known]
