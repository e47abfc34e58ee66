"""The governed turn graph. Orchestration only: every node lives in ``nodes``.

```
guard_input → classify → retrieve → draft → confidence_check → policy_gate
policy_gate → execute | await_approval | escalate | guard_output
await_approval → execute | escalate | guard_output
execute, escalate → guard_output → respond → END
```
(guard_input skips straight to policy_gate when a guard finding blocks or escalates.)
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from govcx.graphs import nodes
from govcx.graphs.context import Services
from govcx.graphs.state import TurnInput, TurnState

NODES = ("guard_input", "classify", "retrieve", "draft", "confidence_check", "policy_gate",
         "execute", "await_approval", "escalate", "guard_output", "respond")


Graph = CompiledStateGraph[TurnState, Services, TurnInput, TurnState]


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> Graph:
    graph: StateGraph[TurnState, Services, TurnInput, TurnState] = StateGraph(
        TurnState, context_schema=Services, input_schema=TurnInput)
    for name in NODES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "guard_input")
    graph.add_conditional_edges("guard_input", nodes.after_guard_input,
                                ["classify", "policy_gate"])
    graph.add_edge("classify", "retrieve")
    graph.add_edge("retrieve", "draft")
    graph.add_edge("draft", "confidence_check")
    graph.add_edge("confidence_check", "policy_gate")
    graph.add_conditional_edges("policy_gate", nodes.after_gate,
                                ["execute", "await_approval", "escalate", "guard_output"])
    graph.add_conditional_edges("await_approval", nodes.after_approval,
                                ["execute", "escalate", "guard_output"])
    graph.add_edge("execute", "guard_output")
    graph.add_edge("escalate", "guard_output")
    graph.add_edge("guard_output", "respond")
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer, name="govcx")


def mermaid() -> str:
    """The graph as a Mermaid flowchart."""
    return str(build_graph().get_graph().draw_mermaid())
