"""A few sequences with what the model predicted beside the truth, mistakes in red (Plotly tables).

Every string is a token or a text from the data or a student's typing: each goes through
`token_text` (markup escaped, bounded). Plotly wraps a cell's text at its spaces, including the
space inside `<span style=...>`, unless the text holds a `<br>`: cells with red words are broken
into lines here (one tag run per line), and the ✓/✗ column is coloured per cell instead.
"""

from __future__ import annotations

import html
import math
import re
from typing import Sequence

import plotly.graph_objects as go

from dlbuilder.figures.sequences import token_text
from dlbuilder.figures.style import FONT_SIZE, MARGIN, SPLIT_COLOURS, WRONG_COLOUR, build_figure

MAX_ROWS = 20
MAX_WORDS = 60  # words (or characters) of one sequence shown
TABLE_FILL = "#EBF0F8"
HEADER_FILL = "#e8eef6"
TEXT_COLOUR = "#2a3f5f"
RIGHT_MARK, WRONG_MARK = "✓", "<b>✗</b>"
MARK_COLOURS = {RIGHT_MARK: SPLIT_COLOURS["test"], WRONG_MARK: WRONG_COLOUR}
TAGS = re.compile(r"<[^<>]*>")
SHORT = 24  # characters no table column wraps
LINE_PIXELS = FONT_SIZE + 5  # one wrapped line of a cell


def _red(text: str) -> str:
    return f'<span style="color:{WRONG_COLOUR}"><b>{text}</b></span>'


def _unwrappable(text: str) -> str:
    """`text` with a final <br> when Plotly might wrap it inside a span (spans, no <br>, long enough to wrap)."""
    if "<span" not in text or "<br>" in text or len(html.unescape(TAGS.sub("", text))) <= SHORT:
        return text
    return text + "<br>"


def _words(tokens: Sequence[object]) -> list[str]:
    return [token_text(t, 24) for t in list(tokens)[:MAX_WORDS]]


def _tag_runs(words: list[str], predicted: Sequence[str], true: Sequence[str] | None, hidden: str | None) -> str:
    """"taipei → origin<br>may 2nd → time": runs of words with one predicted tag, one per line; wrong words
    red, with the truth."""
    runs: list[tuple[str, list[int]]] = []
    for index, tag in enumerate(list(predicted)[:len(words)]):
        if runs and runs[-1][0] == tag:
            runs[-1][1].append(index)
        else:
            runs.append((tag, [index]))
    parts = []
    for tag, members in runs:
        wrong = [i for i in members if true is not None and i < len(true) and true[i] != tag]
        if tag == hidden and not wrong:
            continue
        shown = " ".join(_red(words[i]) if i in wrong else words[i] for i in members)
        part = f"{shown} → <b>{token_text(tag, 24)}</b>"
        if wrong:
            truth = sorted({true[i] for i in wrong})
            part += " " + _red("(true: " + "/".join(token_text(t, 24) for t in truth) + ")")
        parts.append(part)
    if not parts:
        return "(all " + token_text(hidden or "", 24) + ")"
    return _unwrappable("<br>".join(parts))


def tagging_table(sentences: Sequence[Sequence[object]], predicted: Sequence[Sequence[str]],
                  true: Sequence[Sequence[str]] | None = None, hidden_tag: str | None = None,
                  height: int | None = None) -> go.Figure:
    """One row per sentence: its words, the predicted tag runs (runs of `hidden_tag` left out unless
    wrong), and ✓ or ✗ against the true tags (no mark column without them)."""
    rows = range(min(len(sentences), MAX_ROWS))
    words = [_words(sentences[r]) for r in rows]
    tags_header = "predicted tags" + (f" ({token_text(hidden_tag, 24)} not listed)" if hidden_tag else "")
    columns = [[" ".join(w) for w in words],
               [_tag_runs(words[r], predicted[r], true[r] if true is not None else None, hidden_tag) for r in rows]]
    header, widths = ["sentence", tags_header], [1.0, 1.4]
    if true is not None:
        marks = [RIGHT_MARK if list(predicted[r])[:len(words[r])] == list(true[r])[:len(words[r])] else WRONG_MARK
                 for r in rows]
        header, widths, columns = header + [""], widths + [0.12], columns + [marks]
    lines = [max(len(" ".join(words[r])) / 40, columns[1][r].count("<br>") + 1) for r in rows]
    return _table(header, columns, widths, height, lines)


def _diff(predicted: str, true: str | None, level: str) -> str:
    """Predicted tokens, those that differ from the truth at the same position in red."""
    pieces = list(predicted) if level == "char" else predicted.split()
    truth = (list(true) if level == "char" else true.split()) if true is not None else None
    shown = []
    for index, piece in enumerate(pieces[:MAX_WORDS]):
        text = token_text(piece, 24)
        wrong = truth is not None and (index >= len(truth) or truth[index] != piece)
        shown.append(_red(text) if wrong else text)
    if truth is not None and len(truth) > len(pieces):  # stopped early: the missing part counts as wrong
        shown.append(_red("…"))
    return _unwrappable(("" if level == "char" else " ").join(shown))


def translation_table(sources: Sequence[str], predicted: Sequence[str], true: Sequence[str] | None = None,
                      level: str = "char", height: int | None = None) -> go.Figure:
    """One row per input: the input text, the model's output (wrong tokens in red), the true output, ✓/✗."""
    rows = range(min(len(sources), MAX_ROWS))
    columns = [[token_text(sources[r], 80) for r in rows],
               [_diff(predicted[r], true[r] if true is not None else None, level) for r in rows]]
    header, widths = ["input", "predicted"], [1.3, 1.0]
    if true is not None:
        columns.append([token_text(true[r], 80) for r in rows])
        columns.append([RIGHT_MARK if predicted[r] == true[r] else WRONG_MARK for r in rows])
        header, widths = header + ["true", ""], widths + [1.0, 0.15]
    return _table(header, columns, widths, height)


def class_table(sequences: Sequence[str], predicted: Sequence[str], true: Sequence[str] | None = None,
                height: int | None = None) -> go.Figure:
    """One row per sequence (sequence classification, e.g. parity): the text, predicted and true class."""
    rows = range(min(len(sequences), MAX_ROWS))
    columns = [[token_text(sequences[r], 80) for r in rows], [token_text(predicted[r], 40) for r in rows]]
    header, widths = ["sequence", "predicted"], [2.0, 1.0]
    colours = None
    if true is not None:
        right = [predicted[r] == true[r] for r in rows]
        columns.append([token_text(true[r], 40) for r in rows])
        columns.append([RIGHT_MARK if ok else WRONG_MARK for ok in right])
        header, widths = header + ["true", ""], widths + [1.0, 0.15]
        colours = {1: [TEXT_COLOUR if ok else WRONG_COLOUR for ok in right]}
    return _table(header, columns, widths, height, colours=colours)


def _table(header: list[str], columns: list[list[str]], widths: list[float], height: int | None,
           lines: list[float] | None = None, colours: dict[int, list[str]] | None = None) -> go.Figure:
    """A Plotly table in the preview tables' colours; its height allows for wrapped lines.

    `colours`: column -> a text colour per row; a last column of ✓/✗ marks is coloured by mark.
    """
    count = len(columns[0]) if columns else 0
    lines = lines or [1.0] * count
    font_colours: list = [TEXT_COLOUR] * len(columns)
    for column, row_colours in (colours or {}).items():
        font_colours[column] = row_colours
    if header and header[-1] == "":
        font_colours[-1] = [MARK_COLOURS.get(mark, TEXT_COLOUR) for mark in columns[-1]]
    table = dict(
        type="table", columnwidth=widths,
        header=dict(values=[f"<b>{name}</b>" for name in header], font=dict(size=FONT_SIZE),
                    fill=dict(color=HEADER_FILL), line=dict(color="white"), align="left", height=34),
        cells=dict(values=columns, font=dict(size=FONT_SIZE, color=font_colours), fill=dict(color=TABLE_FILL),
                   line=dict(color="white"), align="left", height=32))
    wrapped = sum(max(1, math.ceil(n)) for n in lines)  # lines of text in all rows
    layout = {"template": "none", "paper_bgcolor": "white", "plot_bgcolor": "white",
              "font": {"color": TEXT_COLOUR, "size": FONT_SIZE}, "uirevision": "sequence-table",
              "height": height or 34 + 24 + LINE_PIXELS * wrapped + 12 * count,
              "margin": {**MARGIN, "t": 8, "l": 8, "b": 8, "r": 8}}
    return build_figure([table], layout)
