"""The governed turn graph. Orchestration only: every node lives in ``nodes``.

```
START ─message→ guard_input
START ─while_pending→ still_waiting → END     an approval is pending: "still waiting"
                                              (a trigger in it: a case at once)
still_waiting ─question→ retrieve              ... unless it is a question the policy lets
                                              the AI answer from knowledge alone: answered
                                              (no tool, approval or case), then "still
                                              waiting" is said after it
START ─with_human→ with_human → END           a person has it: record, the AI is silent
START ─call→ take_call → policy_gate           a direct tool call (MCP): no engine, same gate
guard_input → classify → retrieve → draft → confidence_check → policy_gate
guard_input ─stop→ policy_gate                 a guard finding blocks or escalates
policy_gate → execute | await_approval | escalate | ─answer→ check_reply
await_approval → execute | escalate | ─answer→ check_reply
execute, escalate → check_reply → finish_turn → END
```
The gate's routes ``respond`` and ``block`` are ``answer``: ``check_reply`` settles the reply
(a fixed text of the runtime, or the draft through the output guard); ``finish_turn``
records it. ``still_waiting`` runs on a graph compiled without a checkpointer
(:func:`build_graph` with none): the conversation's checkpoint holds the run that waits
for the approval, which a new run on it would replace. ``with_human`` runs there too:
the AI's last run stays in the checkpoint while a person answers.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from govcx.graphs import nodes
from govcx.graphs.context import Services
from govcx.graphs.state import TurnInput, TurnState

NODES = (
    "still_waiting",
    "with_human",
    "guard_input",
    "take_call",
    "classify",
    "retrieve",
    "draft",
    "confidence_check",
    "policy_gate",
    "execute",
    "await_approval",
    "escalate",
    "check_reply",
    "finish_turn",
)


Graph = CompiledStateGraph[TurnState, Services, TurnInput, TurnState]


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> Graph:
    graph: StateGraph[TurnState, Services, TurnInput, TurnState] = StateGraph(
        TurnState, context_schema=Services, input_schema=TurnInput
    )
    for name in NODES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_conditional_edges(
        START,
        nodes.route_message,
        {
            "message": "guard_input",
            "while_pending": "still_waiting",
            "with_human": "with_human",
            "call": "take_call",
        },
    )
    graph.add_edge("take_call", "policy_gate")
    graph.add_conditional_edges(
        "still_waiting", nodes.after_still_waiting, {"question": "retrieve", "done": END}
    )
    graph.add_edge("with_human", END)
    graph.add_conditional_edges(
        "guard_input", nodes.after_guard_input, {"classify": "classify", "stop": "policy_gate"}
    )
    graph.add_edge("classify", "retrieve")
    graph.add_edge("retrieve", "draft")
    graph.add_edge("draft", "confidence_check")
    graph.add_edge("confidence_check", "policy_gate")
    graph.add_conditional_edges(
        "policy_gate",
        nodes.after_gate,
        {
            "execute": "execute",
            "await_approval": "await_approval",
            "escalate": "escalate",
            "answer": "check_reply",
        },
    )
    graph.add_conditional_edges(
        "await_approval",
        nodes.after_approval,
        {"execute": "execute", "escalate": "escalate", "answer": "check_reply"},
    )
    graph.add_edge("execute", "check_reply")
    graph.add_edge("escalate", "check_reply")
    graph.add_edge("check_reply", "finish_turn")
    graph.add_edge("finish_turn", END)
    return graph.compile(checkpointer=checkpointer, name="govcx")


def mermaid() -> str:
    """The graph as a Mermaid flowchart."""
    return str(build_graph().get_graph().draw_mermaid())
