"""One raw detection inside a recognizer, before overlaps are resolved."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Hit:
    type: str
    start: int
    end: int
    score: float
    detail: str
