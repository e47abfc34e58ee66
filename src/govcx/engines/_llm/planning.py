"""Turning the model's tool calls into a Plan: validated, or an error, or a question.

Nothing here trusts the model: an action is validated against its tool's schema (a
runtime-filled parameter, a wrong type or a value out of range is an error, which the
gate escalates), a tool outside the workflow goes to the gate as proposed (which refuses
it with a rule naming it), and missing values become a fixed-wording question.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import ValidationError

from govcx.engines._llm.calls import MalformedOutput
from govcx.engines._llm.prompts import question
from govcx.engines._llm.textcalls import schema_echo, text_calls
from govcx.engines.engine import Plan, ReadFn
from govcx.errors import ToolArgumentError
from govcx.governance.gate import Proposal
from govcx.tools.executor import Execution
from govcx.tools.tool import CONTEXT_PARAMS, ToolSpec

MAX_TOOL_RESULT_CHARS = 4000


def tool_attempt(
    bound: Any,
    messages: list[BaseMessage],
    offered: Collection[str] = (),
) -> Callable[[], tuple[AIMessage, list[AIMessage]]]:
    """One planning call; arguments that are not JSON are malformed output (retried).

    A call written as text (see ``textcalls``) to a tool in ``offered`` is read as if the
    model had made it natively; the answer handed on then carries it in ``tool_calls``.
    """
    snapshot = list(messages)

    def attempt() -> tuple[AIMessage, list[AIMessage]]:
        message = bound.invoke(snapshot)
        if not isinstance(message, AIMessage):
            raise MalformedOutput(f"expected a chat message, got {type(message).__name__}")
        if message.invalid_tool_calls:
            bad = message.invalid_tool_calls[0]
            raise MalformedOutput(
                f"the call to {bad.get('name') or 'a tool'} has arguments that are not valid JSON",
                raws=[message],
            )
        if not message.tool_calls and offered:
            written = text_calls(message.text, offered)
            if written:
                return AIMessage(content="", tool_calls=written), [message]
        return message, [message]

    return attempt


def run_lookup(
    call: Mapping[str, Any], read: ReadFn, evidence: list[dict[str, Any]]
) -> ToolMessage:
    """Run a read-only tool the model called, through the graph's ``read`` callback."""
    args = dict(call.get("args") or {})
    execution: Execution = read(call["name"], args)
    if execution.status == "executed" and execution.result is not None:
        evidence.append({"tool": call["name"], "args": execution.args, "result": execution.result})
        content = json.dumps(execution.result, default=str)
    else:
        error = execution.error or f"{call['name']} did not run"
        evidence.append({"tool": call["name"], "args": args, "error": error})
        content = json.dumps({"error": error})
    if len(content) > MAX_TOOL_RESULT_CHARS:
        content = content[:MAX_TOOL_RESULT_CHARS] + "...(truncated)"
    return ToolMessage(
        content=content, tool_call_id=str(call.get("id") or call["name"]), name=call["name"]
    )


def distinct_actions(calls: Sequence[Mapping[str, Any]]) -> int:
    return len({(c["name"], json.dumps(c["args"], sort_keys=True, default=str)) for c in calls})


def proposal(
    call: Mapping[str, Any],
    specs: Mapping[str, ToolSpec],
    pending: Mapping[str, Any] | None,
    evidence: list[dict[str, Any]],
    intent: str,
) -> Plan:
    """The Plan for an action call."""
    name = str(call["name"])
    args = dict(call.get("args") or {})
    spec = specs.get(name)
    if spec is None:
        # Not a tool of this workflow: the gate refuses it, with a rule saying why.
        return Plan(proposal=Proposal(tool=name, args=args), evidence=evidence)
    if pending is not None and pending.get("tool") == name:
        args = {**dict(pending.get("args") or {}), **args}
    echoed = schema_echo(spec.params, args)
    if echoed is not None:
        return Plan(error=_echo_error(spec, echoed), evidence=evidence)
    missing = [p for p in spec.required if p not in args]
    if missing:
        problem = partial_problem(spec, args)
        if problem:
            return Plan(error=problem, evidence=evidence)
        return ask(spec, args, missing, evidence, intent)
    try:
        canonical = spec.validate(args)
    except ToolArgumentError as exc:
        return Plan(error=exc.message, evidence=evidence)
    return Plan(proposal=Proposal(tool=name, args=canonical), evidence=evidence)


def asked(
    call: Mapping[str, Any],
    specs: Mapping[str, ToolSpec],
    pending: Mapping[str, Any] | None,
    evidence: list[dict[str, Any]],
    intent: str,
) -> Plan:
    """The Plan for a call to the ask-the-customer tool."""
    args = call.get("args") or {}
    tool = str(args.get("tool") or "")
    spec = specs.get(tool)
    if spec is None:
        return Plan(
            error=f"the model asked for information for {tool or 'no tool'}, which "
            "is not a tool of this workflow",
            evidence=evidence,
        )
    raw_known = args.get("known")
    known: dict[str, Any] = dict(raw_known) if isinstance(raw_known, dict) else {}
    if pending is not None and pending.get("tool") == tool:
        known = {**dict(pending.get("args") or {}), **known}
    echoed = schema_echo(spec.params, known)
    if echoed is not None:
        return Plan(error=_echo_error(spec, echoed), evidence=evidence)
    problem = partial_problem(spec, known)
    if problem:
        return Plan(error=problem, evidence=evidence)
    missing = [p for p in spec.required if p not in known]
    for param in (str(p) for p in args.get("missing") or []):
        if param in spec.params and param not in missing and param not in known:
            missing.append(param)
    if not missing:
        return proposal({"name": tool, "args": known}, specs, None, evidence, intent)
    return ask(spec, known, missing, evidence, intent)


def _echo_error(spec: ToolSpec, param: str) -> str:
    return f"{spec.name}: {param} copies the tool's schema instead of giving a value"


def ask(
    spec: ToolSpec,
    known: dict[str, Any],
    missing: list[str],
    evidence: list[dict[str, Any]],
    intent: str,
) -> Plan:
    return Plan(
        proposal=Proposal(tool=spec.name, args=known, missing=tuple(missing)),
        question=question(spec, missing),
        evidence=evidence,
        pending={"intent": intent, "tool": spec.name, "args": known, "awaiting": missing},
    )


def partial_problem(spec: ToolSpec, args: Mapping[str, Any]) -> str | None:
    """What is wrong with the values given so far (a missing value is not a problem)."""
    smuggled = sorted(set(args) & CONTEXT_PARAMS)
    if smuggled:
        return f"{spec.name}: {', '.join(smuggled)} is filled by the runtime and cannot be set"
    try:
        spec.args_model.model_validate(dict(args))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
            for e in exc.errors()
            if e["type"] != "missing"
        ]
        if problems:
            return f"{spec.name}: {'; '.join(problems)}"
    return None


def render(spec: ToolSpec | None, execution: Execution) -> str:
    """The customer-facing line for an executed action, from the tool's reply template."""
    if spec is None:
        return f"Done: {execution.tool}."
    return spec.render_reply(execution.args, execution.result)
