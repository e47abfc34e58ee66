"""Machinery of the LLM engine (:mod:`govcx.agent.llm`): not a public API.

- ``calls``: retries with backoff, failure classification, per-call records.
- ``cassette``: record/replay of model calls at the HTTP layer (JSON-lines cassettes).
- ``client``: builds the langchain-openai chat model from a pack's engine config.
- ``deterministic``: a deterministic stand-in model (not an LLM) for demos, CI and the
  recorded acme suites.
- ``prompts``: prompts, schemas and output parsing (citations, streamed replies).
- ``tokens``: token counting that never touches the network.
"""
