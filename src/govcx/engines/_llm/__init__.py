"""Machinery of the LLM engine (:mod:`govcx.engines.llm`): not a public API.

- ``calls``: retries with backoff, failure classification, per-call records.
- ``cassette``: record/replay of model calls at the HTTP layer (JSON-lines cassettes).
- ``client``: builds the langchain-openai chat model from a pack's engine config.
- ``prompts``: prompts, schemas and output parsing (citations, streamed replies).
- ``tokens``: token counting that never touches the network.
"""
