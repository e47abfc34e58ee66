"""``govcx tools``: every tool of a pack, and the review of its MCP and OpenAPI tools.

    govcx tools list [--pack DIR] [--json]
    govcx tools review NAME... | --all [--pack DIR] [--json]

``list`` shows each tool (native, MCP, OpenAPI) with its source, argument schema, the
policy's tier and its review state, and whether it can run. ``review`` records in the
pack's ``tools.lock`` the schema of the named remote tools as they are now (the schema the
policy is written against); a running server picks it up when it reloads the pack.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from govcx.cli._common import (
    JsonOpt,
    PackOpt,
    console,
    err_console,
    handle_errors,
    load,
    print_json,
)
from govcx.errors import InvalidInput

tools_app = typer.Typer(
    help="List the pack's tools and review MCP/OpenAPI ones.", no_args_is_help=True
)


@tools_app.callback()
def _tools() -> None:
    """List the pack's tools and review MCP/OpenAPI ones."""


def tool_rows(pack: Any) -> list[dict[str, Any]]:
    """One row per tool: native, remote (any review state) and disabled-but-named ones."""
    policy = pack.policy
    gateway = pack.gateway
    rows: list[dict[str, Any]] = []
    remote = {e.tool.name for e in gateway.entries} if gateway is not None else set()
    for spec in pack.registry:
        if spec.name in remote:
            continue
        rows.append(
            _row(policy, spec.name, "native", "native", spec.args_model.model_json_schema(), [])
        )
    if gateway is not None:
        for entry in gateway.entries:
            row = _row(
                policy,
                entry.tool.name,
                entry.tool.source,
                entry.state,
                entry.tool.input_schema,
                list(entry.changes),
            )
            if entry.tool.method:
                row["method"] = entry.tool.method
                if entry.tool.method == "GET" and row["tier"] is None:
                    row["suggested_tier"] = "read"
            row["runtime_filled"] = sorted(entry.tool.runtime_params)
            rows.append(row)
        named = {r["name"] for r in rows}
        extra = set(gateway.disabled) | {
            n for n in policy.tools if "." in n and gateway.why_disabled(n)
        }
        for name in sorted(extra - named):
            reason = gateway.why_disabled(name) or ""
            state = "missing" if reason.startswith("missing") else "unavailable"
            row = _row(policy, name, _source_of(gateway, name), state, None, [reason])
            rows.append(row)
    for row in rows:
        row["usable"] = row["tier"] is not None and row["review"] in ("native", "reviewed")
    return sorted(rows, key=lambda r: (r["source"] != "native", r["name"]))


def _source_of(gateway: Any, name: str) -> str:
    locked = gateway.locked.get(name)
    return str(locked.source) if locked is not None else name.split(".", 1)[0]


def _row(
    policy: Any, name: str, source: str, state: str, schema: Any, changes: list[str]
) -> dict[str, Any]:
    tool_policy = policy.tools.get(name)
    return {
        "name": name,
        "source": source,
        "tier": tool_policy.tier if tool_policy is not None else None,
        "workflows": sorted(w for w, wf in policy.workflows.items() if name in wf.tools),
        "review": state,
        "changes": changes,
        "schema": schema,
    }


@tools_app.command("list")
@handle_errors
def list_tools(pack: PackOpt = None, as_json: JsonOpt = False) -> None:
    """Every tool with its source, tier, review state and whether it can run."""
    the_pack = load(pack)
    try:
        rows = tool_rows(the_pack)
        unavailable = dict(the_pack.gateway.unavailable) if the_pack.gateway else {}
    finally:
        the_pack.close()
    if as_json:
        print_json({"tools": rows, "unavailable_sources": unavailable})
        return
    for source, why in unavailable.items():
        err_console.print(f"[red]source {escape(source)} unavailable:[/red] {escape(why)}")
    for row in rows:
        mark = "[green]usable[/green]" if row["usable"] else "[red]not usable[/red]"
        tier = row["tier"] or (
            f"no tier (suggested {row['suggested_tier']})" if "suggested_tier" in row else "no tier"
        )
        args = ", ".join((row["schema"] or {}).get("properties", {})) or "-"
        console.print(
            f"{mark}  {escape(row['name'])}  [dim]{escape(row['source'])}[/dim]  tier: {tier}  "
            f"review: {row['review']}  args: {escape(args)}",
            highlight=False,
        )
        for change in row["changes"]:
            console.print(f"      {escape(change)}", highlight=False)


@tools_app.command("review")
@handle_errors
def review(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Remote tools to record as reviewed (crm.lookup_customer ...)."),
    ] = None,
    all_tools: Annotated[
        bool, typer.Option("--all", help="Review every MCP/OpenAPI tool not reviewed as it is.")
    ] = False,
    pack: PackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the current schema of MCP/OpenAPI tools in tools.lock (what the policy is
    written against). Read the changes it prints: each is a power the tool gains."""
    from govcx.tools.review import read_lock, reviewed, write_lock

    the_pack = load(pack)
    try:
        gateway = the_pack.gateway
        entries = {e.tool.name: e for e in gateway.entries} if gateway is not None else {}
        pending = sorted(n for n, e in entries.items() if e.state != "reviewed")
        if not names and not all_tools:
            raise InvalidInput(
                "name the tools to review, or pass --all; not reviewed now: "
                + (", ".join(pending) or "none")
            )
        wanted = pending if all_tools and not names else list(names or [])
        unknown = [n for n in wanted if n not in entries]
        if unknown:
            raise InvalidInput(
                f"not an MCP/OpenAPI tool of this pack: {', '.join(unknown)}; remote tools: "
                + (", ".join(sorted(entries)) or "none")
            )
        lock = read_lock(gateway.lock_path) if gateway is not None else {}
        done = []
        for name in wanted:
            entry = entries[name]
            lock[name] = reviewed(entry.tool)
            done.append({"name": name, "was": entry.state, "changes": list(entry.changes)})
        if gateway is not None and done:
            write_lock(gateway.lock_path, lock.values())
        lock_path = str(gateway.lock_path) if gateway is not None else None
    finally:
        the_pack.close()
    if as_json:
        print_json({"reviewed": done, "lock": lock_path})
        return
    for row in done:
        console.print(f"[green]reviewed[/green] {escape(row['name'])} (was {row['was']})")
        for change in row["changes"]:
            console.print(f"      {escape(change)}", highlight=False)
    if done:
        console.print(f"wrote {escape(str(lock_path))}; a running server uses it once it reloads")
