"""The graph's checkpointer, kept to one checkpoint per conversation between runs.

LangGraph writes a checkpoint after every step of a run (durability ``sync``), so a run
killed at any step resumes from the last one. Once a run has ended (the Turn is stored)
or stopped at an approval, only the latest checkpoint is ever read again: the next run
starts from it, a resume continues from it with its pending writes (the interrupt), and
recovery reads it. The earlier ones are copies of the state on the way, each holding
the customer's raw message; :func:`keep_latest` deletes them. (LangGraph's own
``prune(strategy="keep_latest")``, which PostgresSaver implements; the SQLite saver
gets the same here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver


class PrunableSqliteSaver(SqliteSaver):
    """SqliteSaver with ``prune``: ``keep_latest`` keeps each namespace's latest
    checkpoint (the one ``get_tuple`` loads) and its pending writes; ``delete`` removes
    the threads."""

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        if strategy == "delete":
            for thread_id in thread_ids:
                self.delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        with self.lock, self.conn:
            for thread_id in thread_ids:
                for table in ("writes", "checkpoints"):
                    self.conn.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id < ("
                        "SELECT max(c.checkpoint_id) FROM checkpoints c WHERE c.thread_id = "
                        f"{table}.thread_id AND c.checkpoint_ns = {table}.checkpoint_ns)",
                        (str(thread_id),),
                    )


def keep_latest(saver: BaseCheckpointSaver[Any], thread_id: str) -> None:
    """Delete the conversation's checkpoints older than its latest (see the module)."""
    saver.prune([thread_id], strategy="keep_latest")


RENAMED = {"guard_output": "execute", "respond": "check_reply"}
"""Nodes renamed since checkpoints were written (``guard_output`` is ``check_reply``,
``respond`` is ``finish_turn``), each with a node whose edge leads to the new name."""


def continue_renamed(graph: Any, config: Any) -> bool:
    """A run a crash stopped just before a node that has since been renamed: point its
    checkpoint at the new name (as if the node before it had just finished), so that
    recovery finishes it. Returns whether it did."""
    saved = graph.checkpointer.get_tuple(config) if graph.checkpointer else None
    if saved is None:
        return False
    updated = saved.checkpoint.get("updated_channels") or ()
    for old, before in RENAMED.items():
        if f"branch:to:{old}" in updated:
            graph.update_state(config, {}, as_node=before)
            return True
    return False
