"""Review of remote tools: ``tools.lock``, the schemas the policy was written against.

``govcx tools review`` writes, per MCP or OpenAPI tool, the digest of the schema a risk
owner looked at *and the schema itself*, in a YAML file beside the policy. It is a file of
its own rather than part of policy.yaml because it is written by a command (the policy
is written by people, with comments a rewrite would lose) and because a diff of it reads
as what the tool *is* now (``+ reason: {type: string}``), next to the policy diff of what
it *may do*. Both belong in the same review.

A tool is usable only when its live digest equals the locked one. Anything else disables
it: never reviewed (``unreviewed``), changed since (``changed``: an argument added,
renamed or removed, a new description), or no longer offered by its server
(``missing``). The lock never enables a tool by itself: the policy must also give it a
tier (and a workflow must list it) before an engine is offered it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from govcx.errors import ConfigError
from govcx.tools.remote import RemoteTool

LOCK_FILE = "tools.lock"
ReviewState = Literal["native", "reviewed", "unreviewed", "changed", "missing", "unavailable"]

_HEADER = """\
# Reviewed schemas of this pack's MCP and OpenAPI tools, written by `govcx tools review`.
# A tool runs only while its live schema matches the digest here AND the policy gives it a
# tier. Review a diff of this file like a diff of the policy: a new argument is a new power.
"""


@dataclass(frozen=True, kw_only=True)
class Reviewed:
    """One locked entry."""

    name: str
    source: str
    digest: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    reviewed_at: str = ""


def read_lock(path: Path) -> dict[str, Reviewed]:
    """The locked entries by tool name ({} when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not a readable YAML file ({exc})") from None
    tools = data.get("tools") if isinstance(data, dict) else None
    if not isinstance(tools, dict):
        raise ConfigError(
            str(path), "must be a mapping with `tools:` (written by govcx tools review)"
        )
    out: dict[str, Reviewed] = {}
    for name, entry in tools.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            raise ConfigError(str(path), "each tool needs a digest", field=f"tools.{name}")
        out[str(name)] = Reviewed(
            name=str(name),
            source=str(entry.get("source", "")),
            digest=entry["digest"],
            description=str(entry.get("description", "")),
            input_schema=dict(entry.get("input_schema") or {}),
            method=entry.get("method"),
            reviewed_at=str(entry.get("reviewed_at", "")),
        )
    return out


def write_lock(path: Path, entries: Iterable[Reviewed]) -> None:
    """Write ``entries`` sorted by name (a stable file diffs cleanly)."""
    tools: dict[str, Any] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        row: dict[str, Any] = {"source": entry.source, "digest": entry.digest}
        if entry.method:
            row["method"] = entry.method
        row["description"] = entry.description
        row["input_schema"] = entry.input_schema
        row["reviewed_at"] = entry.reviewed_at
        tools[entry.name] = row
    body = yaml.safe_dump(
        {"version": 1, "tools": tools}, sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(_HEADER + body, encoding="utf-8")


def reviewed(tool: RemoteTool, *, now: dt.datetime | None = None) -> Reviewed:
    """The lock entry recording ``tool`` as it is now."""
    when = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    return Reviewed(
        name=tool.name,
        source=tool.source,
        digest=tool.digest,
        description=tool.description,
        input_schema=tool.input_schema,
        method=tool.method,
        reviewed_at=when,
    )


def state_of(tool: RemoteTool, locked: Reviewed | None) -> tuple[ReviewState, list[str]]:
    """Whether ``tool`` may run as far as review goes, and what changed since review."""
    if locked is None:
        args = ", ".join(tool.input_schema.get("properties", {})) or "none"
        return "unreviewed", [f"not reviewed yet (arguments: {args})"]
    if locked.digest == tool.digest:
        return "reviewed", []
    return "changed", changes(locked, tool) or ["its schema digest changed"]


def changes(locked: Reviewed, tool: RemoteTool) -> list[str]:
    """What differs between the reviewed schema and the live one, for a person."""
    out: list[str] = []
    old = _props(locked.input_schema)
    new = _props(tool.input_schema)
    out += [f"argument added: {n}" for n in sorted(set(new) - set(old))]
    out += [f"argument removed: {n}" for n in sorted(set(old) - set(new))]
    out += [f"argument changed: {n}" for n in sorted(set(old) & set(new)) if old[n] != new[n]]
    if set(locked.input_schema.get("required", [])) != set(tool.input_schema.get("required", [])):
        out.append("required arguments changed")
    rest_old = {k: v for k, v in locked.input_schema.items() if k not in ("properties", "required")}
    rest_new = {k: v for k, v in tool.input_schema.items() if k not in ("properties", "required")}
    if rest_old != rest_new:
        out.append("schema changed outside the arguments")
    if locked.description != tool.description:
        out.append("description changed")
    if locked.method != tool.method:
        out.append(f"method changed: {locked.method} -> {tool.method}")
    return out


def _props(schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return dict(props) if isinstance(props, Mapping) else {}
