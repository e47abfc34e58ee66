"""Token counting, stream filtering and client building: offline, no surprises."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from govcx.engines._llm import tokens
from govcx.engines._llm.client import GovcxAzureChatOpenAI, azure_target
from govcx.engines._llm.prompts import StreamFilter, parse_draft
from govcx.engines.llm import LLMEngine
from govcx.pack import EngineConfig, Pack
from tests.conftest import RETURNS


def _litellm_tables() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    tokens._local_encoding.cache_clear()


def test_counting_without_local_tables_is_approximate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_attempts: list[Any]
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    counter = tokens.TokenCounter("gpt-4o-mini")
    assert not counter.exact
    assert counter.count("a" * 40) == 10
    assert counter.count_messages([SystemMessage("x" * 8), HumanMessage("y" * 4)]) == 3 + 6 + 5
    assert network_attempts == []


def test_counting_uses_a_local_table_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch, network_attempts: list[Any]
) -> None:
    folder = _litellm_tables()
    if folder is None:
        pytest.skip("no bundled tiktoken tables on this machine")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    counter = tokens.TokenCounter("gpt-4")
    assert counter.exact
    assert counter.count("hello world") == 2
    assert network_attempts == []


def test_a_corrupt_table_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    url = tokens._TABLES["cl100k_base"][0]
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"garbage")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not tokens.TokenCounter("gpt-4").exact


def test_the_chat_model_counts_tokens_offline(
    shop: Pack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_attempts: list[Any]
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    engine = LLMEngine.from_pack(shop, config=EngineConfig(kind="llm", model="gpt-4o"))
    model: Any = engine.model
    assert model.get_num_tokens("a" * 400) == 100
    assert model.get_num_tokens_from_messages([HumanMessage("hello there")]) > 0
    with pytest.raises(RuntimeError, match="local tiktoken table"):
        model.get_token_ids("hello")
    assert network_attempts == []


def test_encoding_names() -> None:
    assert tokens.encoding_name("gpt-4o-mini") == "o200k_base"
    assert tokens.encoding_name("openai/gpt-5") == "o200k_base"
    assert tokens.encoding_name("llama3.1:8b") == "cl100k_base"


@pytest.mark.parametrize(
    ("pieces", "shown"),
    [
        (
            ["You have ", "30 days ", "[S", "1]", ". Refunds ", "take 5 days [S1, S2]."],
            "You have 30 days. Refunds take 5 days.",
        ),
        (["Use [brackets] freely", " [S2]"], "Use [brackets] freely"),
        (["NO_", "ANS", "WER"], ""),
        (["No", " problem [S1]."], "No problem."),
    ],
)
def test_stream_filter_hides_markers(pieces: list[str], shown: str) -> None:
    gate = StreamFilter()
    out = "".join(gate.feed(p) for p in pieces) + gate.finish()
    assert out == shown
    text, _, _ = parse_draft("".join(pieces), [RETURNS, RETURNS])
    assert text == shown


def test_azure_urls() -> None:
    assert azure_target(
        "https://acme.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21"
    ) == ("https://acme.openai.azure.com", "gpt4o", "2024-10-21")
    assert azure_target("https://acme.openai.azure.com/openai/v1/") is None
    assert azure_target("http://localhost:11434/v1") is None


def test_classic_azure_deployments_use_azure_chat_openai(shop: Pack) -> None:
    config = EngineConfig(
        kind="llm",
        model="gpt-4o",
        api_key_env="AZ_KEY",
        base_url="https://acme.openai.azure.com/openai/deployments/prod-4o?api-version=2024-10-21",
    )
    engine = LLMEngine.from_pack(shop, config=config, environ={"AZ_KEY": "k"})
    model: Any = engine.model
    assert isinstance(model, GovcxAzureChatOpenAI)
    assert (model.deployment_name, model.openai_api_version) == ("prod-4o", "2024-10-21")
