"""Text the user controls (file names, CSV headers, strings from share links) shown as plain text.

Streamlit renders almost every string as Markdown: st.error/st.caption/st.markdown, metric
labels and table cells. An image tag in a column name would make every viewer's browser fetch
an outside address, so text that came from outside goes through `plain` before it is shown.
"""

from __future__ import annotations

import re

import streamlit as st

# Every ASCII punctuation character: CommonMark lets a backslash escape each of them, which stops
# images, links, HTML, emphasis, code, tables, LaTeX ($), directives (:red[...]) and autolinks.
MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Streamlit also rewrites the parsed text, after escapes are gone: addresses become links
# (http://..., www., name@host), shortcodes become emoji or icons (:smile:, :material_home:,
# :streamlit:) and arrows become symbols (->, <=, --). An invisible word joiner breaks them.
REWRITTEN = re.compile(r"(:|@|(?i:www)(?=\.)|[<\-~>](?=[\->=]))")
WORD_JOINER = "\u2060"
LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x1c-\x1e\x85]+")


def plain(text: object, limit: int | None = None) -> str:
    """`text` escaped so that Streamlit's Markdown shows it literally, on one line (cut to `limit`)."""
    text = LINE_BREAKS.sub(" ", str(text))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", REWRITTEN.sub(r"\1" + WORD_JOINER, text))


def bullets(lines: list[object]) -> str:
    """A Markdown list whose items are shown literally."""
    return "\n".join(f"- {plain(line)}" for line in lines)


def show(kind: str, message: str) -> None:
    """A plain-text message in a coloured box; kind is "success", "info", "warning" or "error"."""
    getattr(st, kind if kind in ("success", "info", "warning", "error") else "error")(plain(message))
