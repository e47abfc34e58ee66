"""Cutting a document into passages along its headings.

Each Markdown heading (``#`` to ``######``, outside code fences) starts a section; a
section carries its heading path (``Refunds > After 30 days``; a top heading that repeats
the title is left out). Sections shorter than ``min_chunk_size`` are merged into the next
one (their heading stays in the text), and sections longer than ``chunk_size`` are cut at
paragraphs, then sentences, then words.

Example:
    >>> [p.heading for p in split_passages("# T\\n## A\\nabc\\n## B\\ndef", title="T",
    ...                                      chunk_size=1000, min_chunk_size=0)]
    ['A', 'B']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True, kw_only=True)
class Passage:
    """A piece of a document's text under one heading path."""

    index: int
    heading: str
    text: str


def _sections(body: str, title: str) -> list[tuple[str, str]]:
    path: list[tuple[int, str]] = []
    sections: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match is None:
            sections[-1][1].append(line)
            continue
        level, text = len(match.group(1)), match.group(2).strip()
        while path and path[-1][0] >= level:
            path.pop()
        if not (level == 1 and not path and text.casefold() == title.casefold()):
            path.append((level, text))
        sections.append((HEADING_SEPARATOR.join(t for _, t in path), []))
    out: list[tuple[str, str]] = []
    for heading, lines in sections:
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        if text:
            out.append((heading, text))
    return out


def _split_long(text: str, size: int) -> list[str]:
    """Pack paragraphs (then sentences, then words) into pieces of at most ``size``."""
    pieces: list[str] = []
    for unit_text, sep in ((p, "\n\n") for p in re.split(r"\n\s*\n", text)):
        units = [unit_text] if len(unit_text) <= size else _SENTENCE.split(unit_text)
        for unit in units:
            while len(unit) > size:
                cut = unit.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                pieces.append(unit[:cut].strip())
                unit = unit[cut:].strip()
            if pieces and len(pieces[-1]) + len(sep) + len(unit) <= size and unit:
                pieces[-1] = pieces[-1] + sep + unit
            elif unit:
                pieces.append(unit)
            sep = " "
    return [p for p in pieces if p]


def split_passages(body: str, *, title: str, chunk_size: int, min_chunk_size: int) -> list[Passage]:
    """Passages of a document body, in order."""
    merged: list[tuple[str, str]] = []
    for heading, text in _sections(body, title):
        if (
            merged
            and len(merged[-1][1]) < min_chunk_size
            and len(merged[-1][1]) + len(text) + len(heading) + 2 <= chunk_size
        ):
            prev_heading, prev_text = merged[-1]
            label = heading.rsplit(HEADING_SEPARATOR, 1)[-1]
            joined = (
                f"{prev_text}\n\n{label}\n{text}"
                if label and label != prev_heading
                else f"{prev_text}\n\n{text}"
            )
            merged[-1] = (prev_heading or heading, joined)
        else:
            merged.append((heading, text))
    passages: list[Passage] = []
    for heading, text in merged:
        for piece in _split_long(text, chunk_size):
            passages.append(Passage(index=len(passages), heading=heading, text=piece))
    return passages
