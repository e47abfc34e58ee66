"""Token counting that never touches the network.

tiktoken downloads its BPE tables on first use, which hangs or fails offline. Here an
encoding is used only when its table is already in the cache folder tiktoken reads
(``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or the temp-dir default) and its hash
matches, so tiktoken has no reason to fetch anything; otherwise tokens are approximated
at four characters each. Counting never raises: a turn must not fail over it.

Usage reported by the model server is always preferred; counts here fill in when a
server reports none (some do not while streaming).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
"""Tokens a chat message costs beyond its text (role, separators)."""

_TABLES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def approx_tokens(text: str) -> int:
    """About four characters per token (English prose averages 3.5-4.5)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def encoding_name(model: str | None) -> str:
    name = (model or "").lower().rsplit("/", 1)[-1]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


def _tiktoken_cache_dir() -> Path | None:
    # Mirrors tiktoken.load.read_file_cached, to predict whether it would download.
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            value = os.environ[var]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


@functools.lru_cache(maxsize=8)
def _local_encoding(name: str, cache_dir: Path | None) -> Any:
    if name not in _TABLES or cache_dir is None:
        return None
    url, expected = _TABLES[name]
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        return None  # tiktoken would delete it and download again
    try:
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception:  # never fail a turn over counting
        return None


def local_encoding(model: str | None) -> Any:
    """The tiktoken encoding for ``model`` if its table is cached locally, else None."""
    return _local_encoding(encoding_name(model), _tiktoken_cache_dir())


class TokenCounter:
    """Counts tokens exactly when a local tiktoken table exists, approximately otherwise."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self._encoding = local_encoding(model)

    @property
    def exact(self) -> bool:
        return self._encoding is not None

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._encoding is not None:
            try:
                return len(self._encoding.encode(text, disallowed_special=()))
            except Exception:
                pass
        return approx_tokens(text)

    def count_messages(self, messages: Sequence[Any]) -> int:
        """Prompt tokens of chat messages (langchain messages, dicts or strings)."""
        total = 3
        for message in messages:
            content = getattr(message, "content", message)
            if isinstance(message, dict):
                content = message.get("content") or ""
            if not isinstance(content, str):
                content = str(content)
            total += MESSAGE_OVERHEAD + self.count(content)
            tool_calls = getattr(message, "tool_calls", None)
            if tool_calls:
                total += self.count(str(tool_calls))
        return total
