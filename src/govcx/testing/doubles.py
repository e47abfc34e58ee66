"""Test doubles shipped with govcx, for tests of packs and channels built on it.

- :class:`InMemoryRetriever`: a small TF-IDF retriever over given chunks.
- :class:`PassThroughGuard`: a guard that finds nothing (to isolate other behaviour).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sklearn.feature_extraction.text import TfidfVectorizer

from govcx.governance.finding import Finding, Source
from govcx.guardrails.guard import OutputContext, OutputResult, ScanResult
from govcx.knowledge.retriever import Chunk


class InMemoryRetriever:
    """TF-IDF cosine over a fixed list of (already approved) chunks."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self._vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        if self.chunks:
            corpus = [f"{c.title} {c.heading} {c.text}" for c in self.chunks]
            self._matrix = self._vectorizer.fit_transform(corpus)

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        tags: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> list[Chunk]:
        if not self.chunks:
            return []
        scores = (self._matrix @ self._vectorizer.transform([query]).T).toarray().ravel()
        order = scores.argsort()[::-1]
        out = []
        for i in order[:k]:
            if scores[i] <= 0:
                break
            chunk = self.chunks[int(i)]
            if tags and not set(tags) & set(chunk.tags):
                continue
            out.append(Chunk(**{**chunk.__dict__, "score": float(scores[i])}))
        return out


class PassThroughGuard:
    """Finds nothing and changes nothing."""

    def scan_input(self, text: str) -> ScanResult:
        return ScanResult(findings=[], redacted=text)

    def scan_indirect(self, text: str, source: Source) -> list[Finding]:
        return []

    def check_output(self, reply: str, context: OutputContext) -> OutputResult:
        return OutputResult(findings=[], text=reply)

    def redact(self, text: str) -> str:
        return text
