"""Fitting the demo's text into a width without cutting a word: shortened at a word boundary with an ellipsis
(a label), or wrapped onto as many lines as it needs (an outcome in the summary table)."""

from __future__ import annotations

import textwrap

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` characters, else its longest run of whole words that fits with ``…``.
    A first word longer than ``width`` is the one thing cut inside (there is no boundary to cut at)."""
    if len(text) <= width:
        return text
    room = max(width - len(ELLIPSIS), 1)
    cut = text[: room + 1].rstrip()
    if len(cut) > room:  # the cut fell inside a word: back to the space before it
        boundary = cut.rfind(" ", 0, room + 1)
        cut = cut[:boundary].rstrip() if boundary > 0 else cut[:room]
    return cut.rstrip(" ,;:(") + ELLIPSIS


def wrap(text: str, width: int) -> list[str]:
    """``text`` on lines of at most ``width`` characters, broken between words (a word longer than ``width`` gets
    a line of its own, whole)."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
