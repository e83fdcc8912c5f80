"""A small TOML writer for plain data (dicts, lists, text, numbers, booleans): what `tomllib` reads back.

Python's standard library reads TOML but cannot write it. Lesson files only hold plain JSON-like
data, so this writes that subset, laid out for a person to edit: tables for sections, `[[name]]`
for lists of long entries (lesson steps), one inline table per line for lists of short ones
(a network's nodes and edges), and multi-line strings for text with line breaks.
`tomllib.loads(dumps(data)) == data` for every dict it accepts (None values are left out: TOML has
no null, and a missing key reads as its default).
"""

from __future__ import annotations

import math
import re
from typing import Any

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # always fullmatch
INLINE_TEXT = 60  # a list of dicts with longer text is written as [[tables]], one per entry
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def dumps(data: dict) -> str:
    """TOML text for `data` (a dict of plain values); raise ValueError for what TOML cannot hold."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], path: list[str], table: dict) -> None:
    items = [(key, value) for key, value in table.items() if value is not None]
    inline = [(key, value) for key, value in items if not isinstance(value, dict) and not _table_array(value)
              or path and _small(value)]
    for key, value in inline:
        lines.append(f"{_key(key)} = {_value(value, multiline=True)}")
    for key, value in items:
        if any(key == done for done, _ in inline):
            continue
        if isinstance(value, dict):
            lines += ["", f"[{_dotted(path + [key])}]"]
            _table(lines, path + [key], value)
        elif _table_array(value):
            for entry in value:
                lines += ["", f"[[{_dotted(path + [key])}]]"]
                _table(lines, path + [key], entry)


def _small(value: Any) -> bool:
    """A dict of a few plain values: written inline ({ units = 32 }) inside a table."""
    return (isinstance(value, dict) and all(not isinstance(v, (dict, list, tuple)) for v in value.values())
            and len(_value(value)) <= INLINE_TEXT)


def _table_array(value: Any) -> bool:
    """A list of dicts holding long or multi-line text, or lists of dicts: one [[table]] per entry."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, dict) for v in value):
        return False
    return any(isinstance(v, str) and (len(v) > INLINE_TEXT or "\n" in v)
               or (isinstance(v, (list, tuple)) and any(isinstance(i, dict) for i in v))
               for entry in value for v in entry.values())


def _dotted(path: list[str]) -> str:
    return ".".join(_key(part) for part in path)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise ValueError(f"TOML keys are text, not {type(key).__name__}")
    return key if BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any, multiline: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written: lesson files hold finite numbers")
        return repr(value)
    if isinstance(value, str):
        return _multiline(value) if multiline and "\n" in value else _string(value)
    if isinstance(value, dict):
        entries = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(entries) + " }" if entries else "{}"
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise ValueError("TOML lists cannot hold empty values")
        if value and all(isinstance(v, dict) for v in value):  # one inline table per line
            return "[\n" + "".join(f"  {_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ValueError(f"a {type(value).__name__} cannot be written to a lesson file")


def _escape(text: str, keep_newlines: bool) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    if not keep_newlines:
        text = text.replace("\n", "\\n")
    text = text.replace("\r", "\\r")
    return CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _string(text: str) -> str:
    return f'"{_escape(text, keep_newlines=False)}"'


def _multiline(text: str) -> str:
    # The newline right after the opening quotes is not part of the text (TOML trims it).
    return '"""\n' + _escape(text, keep_newlines=True) + '"""'
