"""Engines: what classifies a message, plans a tool call and drafts a reply.

Below the graph (:mod:`govcx.graphs`), above governance, tools, knowledge and guards. An
engine proposes; the graph's policy gate decides.

- :mod:`~govcx.engines.engine`: the :class:`~govcx.engines.engine.Engine` protocol and
  the plan it returns.
- :mod:`~govcx.engines.embedded`: the offline default (no keys, no downloads).
- :mod:`~govcx.engines.classifier`, :mod:`~govcx.engines.finetuned`: intent classifiers.
- :mod:`~govcx.engines.llm`: any OpenAI-compatible model, with its private ``_llm``
  machinery (calls, cassettes, prompts, tokens).
"""
