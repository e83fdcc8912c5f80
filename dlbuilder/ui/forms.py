"""Typed widgets for registry parameters: ranges and docs come from the Param schema."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dlbuilder.params import Param


def param_input(param: Param, value: Any, key: str, slider: bool = False) -> Any:
    """One widget for `param` showing `value`; returns what the student entered (checked later)."""
    label = param.name.replace("_", " ")
    if slider and param.kind in ("int", "float") and param.min is not None and param.max is not None:
        cast = int if param.kind == "int" else float
        return cast(st.slider(label, min_value=cast(param.min), max_value=cast(param.max),
                              value=cast(_number(value, param)), key=key, help=param.doc))
    if param.kind == "bool":
        return st.toggle(label, value=bool(value), key=key, help=param.doc)
    if param.kind == "choice":
        index = param.choices.index(value) if value in param.choices else 0
        return st.selectbox(label, param.choices, index=index, key=key, help=param.doc)
    if param.kind == "int":
        return int(st.number_input(label, value=_number(value, param), min_value=_bound(param.min, int),
                                   max_value=_bound(param.max, int), step=1, key=key, help=param.doc))
    if param.kind == "float":
        return float(st.number_input(label, value=float(_number(value, param)), min_value=_bound(param.min, float),
                                     max_value=_bound(param.max, float), format="%g", key=key, help=param.doc))
    if param.kind == "int_or_same":
        return _int_or_same(param, value, key, label)
    if param.kind == "ints":
        return _ints(param, value, key, label)
    return st.text_input(label, value=str(value), max_chars=param.max_length, key=key, help=param.doc)


def _number(value: Any, param: Param):
    """`value` as the parameter's number type and inside its range: a share link can carry e.g. 1.5 or -1."""
    cast = int if param.kind == "int" else float
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or abs(value) == math.inf:
        value = param.default if isinstance(param.default, (int, float)) else 0
    if param.min is not None and value < param.min:
        value = math.ceil(param.min) if cast is int else param.min
    if param.max is not None and value > param.max:
        value = math.floor(param.max) if cast is int else param.max
    try:
        return cast(value)
    except OverflowError:  # an integer too large for a float
        return cast(param.default if isinstance(param.default, (int, float)) else 0)


def _bound(limit: float | None, cast):
    return None if limit is None else cast(limit)


def _int_or_same(param: Param, value: Any, key: str, label: str):
    same = st.toggle(f"{label}: 'same' (keep H and W)", value=value == "same", key=f"{key}_same", help=param.doc)
    if same:
        return "same"
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return int(st.number_input(label, value=number, min_value=int(param.min or 0), max_value=int(param.max or 99),
                               step=1, key=key))


def _ints(param: Param, value: Any, key: str, label: str):
    text = ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    entered = st.text_input(f"{label} (numbers separated by commas)", value=text, key=key, help=param.doc)
    parts = [p.strip() for p in entered.replace("x", ",").split(",") if p.strip()]
    if all(p.isdigit() for p in parts):
        return [int(p) for p in parts]
    st.error(f"{label}: write whole numbers separated by commas, e.g. 1, 8, 8")
    return value
