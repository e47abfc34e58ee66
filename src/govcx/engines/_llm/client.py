"""The chat model: langchain-openai's ChatOpenAI (or AzureChatOpenAI) from a pack's config.

Any OpenAI-compatible endpoint works through ``base_url`` (OpenAI, Azure OpenAI's v1
API, vLLM, Ollama, LM Studio, llama.cpp server, LiteLLM proxy). A classic Azure
deployment URL with an ``api-version`` query, e.g.
``https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT?api-version=2024-10-21``,
selects AzureChatOpenAI with that endpoint, deployment and API version.

The client is built for governance rather than convenience: the openai client's own
retries are off (the engine retries with its own, testable policy), Chat Completions is
pinned (no silent switch to the Responses API, which most compatible servers lack), and
token counting never downloads tiktoken tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from langchain_core.messages import BaseMessage
from langchain_openai import AzureChatOpenAI, ChatOpenAI
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import SecretStr

from govcx.engines._llm.cassette import CassetteTransport
from govcx.engines._llm.tokens import TokenCounter, local_encoding

NO_KEY = "no-key"
"""Sent as the API key to servers that need none (vLLM, Ollama) and in replay mode."""

_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")


def _count(model: Any, text: str) -> int:
    return TokenCounter(model.model_name).count(text)


def _count_messages(
    model: Any,
    messages: Sequence[BaseMessage],
    tools: Any = None,
    *,
    allow_fetching_images: bool = True,
) -> int:
    return TokenCounter(model.model_name).count_messages(messages)


def _token_ids(model: Any, text: str) -> list[int]:
    encoding = local_encoding(model.model_name)
    if encoding is None:
        raise RuntimeError(
            "token ids need a local tiktoken table (set TIKTOKEN_CACHE_DIR "
            "to a folder holding it); counts work without one"
        )
    ids: list[int] = encoding.encode(text, disallowed_special=())
    return ids


class GovcxChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose token counting never downloads tiktoken tables."""

    get_num_tokens = _count  # type: ignore[pydantic-field]
    get_num_tokens_from_messages = _count_messages  # type: ignore[pydantic-field]
    get_token_ids = _token_ids  # type: ignore[pydantic-field]


class GovcxAzureChatOpenAI(AzureChatOpenAI):
    """AzureChatOpenAI whose token counting never downloads tiktoken tables."""

    get_num_tokens = _count  # type: ignore[pydantic-field]
    get_num_tokens_from_messages = _count_messages  # type: ignore[pydantic-field]
    get_token_ids = _token_ids  # type: ignore[pydantic-field]


def azure_target(base_url: str | None) -> tuple[str, str | None, str] | None:
    """(endpoint, deployment, api_version) for a classic Azure OpenAI URL, else None."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    version = parse_qs(parts.query).get("api-version")
    if not host.endswith(_AZURE_HOSTS) or not version:
        return None
    segments = [s for s in parts.path.split("/") if s]
    deployment = None
    if "deployments" in segments and segments.index("deployments") + 1 < len(segments):
        deployment = segments[segments.index("deployments") + 1]
    return f"{parts.scheme}://{parts.netloc}", deployment, version[0]


def build_chat_model(
    *,
    model: str,
    base_url: str | None,
    api_key: str | None,
    temperature: float,
    timeout: float,
    max_tokens: int,
    transport: CassetteTransport | None,
) -> BaseChatOpenAI:
    """A ChatOpenAI (or AzureChatOpenAI); its HTTP goes through ``transport`` if given.

    Live calls keep the openai client's own HTTP clients, which honour the proxy
    environment variables (an httpx client given a transport ignores them).
    """
    common: dict[str, Any] = {
        "temperature": temperature,
        "max_tokens": max_tokens,
        "timeout": timeout,
        "max_retries": 0,
        "stream_usage": True,
    }
    if transport is not None:
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        common["http_client"] = httpx.Client(transport=transport, timeout=limits)
        common["http_async_client"] = httpx.AsyncClient(transport=transport, timeout=limits)
    azure = azure_target(base_url)
    if azure is not None:
        endpoint, deployment, version = azure
        return GovcxAzureChatOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment or model,
            api_version=version,
            model=model,
            api_key=SecretStr(api_key or NO_KEY),
            **common,
        )
    return GovcxChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=SecretStr(api_key or NO_KEY),
        use_responses_api=False,
        **common,
    )
