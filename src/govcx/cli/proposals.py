"""`govcx policy propose|proposals|proposal|review|activate|rollout|shadow-report|rollback`:
the policy lifecycle from the command line.

Like approvals, every change is made as the principal of your API key (``GOVCX_API_KEY``
or ``--key-file``; ``--as NAME`` only in dev mode, recorded as unauthenticated). The
commands work on the deployment's database (GOVCX_HOME / GOVCX_DATABASE_URL), so the
author writes the candidate file on their own machine and nothing is edited on a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from govcx.cli._common import (
    AsOpt,
    JsonOpt,
    KeyFileOpt,
    PackOpt,
    console,
    decider,
    err_console,
    handle_errors,
    open_agent,
    print_json,
)
from govcx.errors import Conflict, GovcxError, InvalidInput

CommentOpt = Annotated[str | None, typer.Option("--comment", help="Why (recorded and audited).")]


def register(policy_app: typer.Typer) -> None:
    """Add the lifecycle commands to ``govcx policy``."""
    for name, fn in (
        ("show", show),
        ("propose", propose),
        ("proposals", proposals),
        ("proposal", proposal),
        ("review", review),
        ("impact", impact),
        ("activate", activate),
        ("rollout", rollout),
        ("shadow-report", shadow_report),
        ("rollback", rollback),
    ):
        policy_app.command(name)(handle_errors(fn))


def _who(agent: Any, key_file: Path | None, as_: str | None, doing: str) -> tuple[Any, bool]:
    principal, authenticated = decider(agent, key_file=key_file, as_=as_, doing=doing, role="admin")
    if not authenticated:
        err_console.print(
            f"[yellow]unauthenticated[/yellow] dev-mode action as {principal.name} "
            "(GOVCX_DEV=1); it is recorded as such",
            highlight=False,
        )
    return principal, authenticated


def _view(agent: Any, proposal: Any) -> dict[str, Any]:
    from govcx.governance.proposals import review_bar

    bar = review_bar(agent.policy, proposal.candidate)
    data = proposal.view()
    data.pop("policy")
    data["approvals_needed"] = bar.approvers
    data["reviewer_roles"] = list(bar.roles)
    data["diff"] = agent.lifecycle.diff(proposal)
    view: dict[str, Any] = data
    return view


def show(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write it to this file (YAML) instead of printing it."),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The active policy of this deployment (from its database, as activated), to start a
    candidate from: edit a copy, bump its version, `govcx policy propose FILE`."""
    import yaml

    from govcx.cli._stores import open_stores

    with open_stores(pack, data_key=False) as stores:
        active = stores.policies.active()
        policy = stores.policies.load(active.version) if active else stores.pack.policy
    data = policy.model_dump(mode="json", exclude_none=True)
    if json_out:
        print_json(data)
        return
    text = f"# The active policy {policy.version} (digest {policy.digest[:12]})\n"
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if out is None:
        console.print(text, markup=False, highlight=False, end="")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}") from None
    console.print(f"wrote the active policy {escape(policy.version)} to {escape(str(out))}")


def propose(
    file: Annotated[
        Path | None, typer.Argument(help="The candidate policy file (on your machine).")
    ] = None,
    suggestion: Annotated[
        str | None,
        typer.Option(
            "--suggestion",
            help="Propose the candidate of a suggestion of `govcx report` (sug_...) "
            "instead of a file.",
        ),
    ] = None,
    since: Annotated[
        str, typer.Option(help="With --suggestion: the report's window (7d, 30d, a date).")
    ] = "30d",
    comment: CommentOpt = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=366,
            help="Days of recorded conversations the impact report replays "
            "(default: governance.policy_changes.impact_days, else 30).",
        ),
    ] = None,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose a policy change: validated, diffed against the active policy, replayed
    (the impact report), then waiting for its reviewers."""
    from govcx.evals.impact import impact_report
    from govcx.evals.simulate import load_new_policy

    if (file is None) == (suggestion is None):
        raise InvalidInput("give the candidate policy FILE or --suggestion ID (one of them)")
    agent = open_agent(pack)
    who, authenticated = _who(agent, key_file, as_, "proposing a policy change")
    if suggestion is not None:
        import time

        from govcx.governance.report import window
        from govcx.governance.suggestions import proposable

        start, end = window(since, None, now=time.time())
        item, candidate = proposable(
            agent.db, agent.sync_policy(), suggestion, since=start, until=end
        )
        comment = comment or f"{item.text} (suggestion {item.suggestion_id})"
    else:
        assert file is not None
        candidate = load_new_policy(file, agent.pack)
    agent.lifecycle.precheck(candidate, author=who)
    with console.status("replaying conversations under the candidate (impact report)..."):
        impact = impact_report(agent, candidate, days=days)
    created = agent.lifecycle.propose(
        candidate, author=who, comment=comment, impact=impact, authenticated=authenticated
    )
    view = _view(agent, created)
    if json_out:
        print_json(view)
        return
    _render(view)


def proposals(
    status: Annotated[
        str | None,
        typer.Option(help="pending|approved|rejected|shadow|rollout|active|ended"),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List policy proposals, newest first (and what runs beside the active policy)."""
    agent = open_agent(pack)
    agent.sync_policy()
    items = [_view(agent, p) for p in agent.proposals.list(status=status)]
    rollout = agent.rollout
    if json_out:
        for item in items:
            item.pop("impact", None)
        print_json(items)
        return
    console.print(
        f"active policy [bold]{escape(agent.policy.version)}[/bold]"
        + (
            f"; {rollout.mode} of {rollout.proposal_id} ({rollout.candidate.version}"
            + (f", {rollout.share}% of new conversations" if rollout.mode == "rollout" else "")
            + ")"
            if rollout is not None
            else ""
        ),
        highlight=False,
    )
    if not items:
        console.print("no proposals")
    for item in items:
        console.print(
            f"{item['proposal_id']}  {item['status']:<8}  {escape(item['version'])} "
            f"(over {escape(item['base_version'])})  by {escape(item['author'])}  "
            f"{sum(r['decision'] == 'approve' for r in item['reviews'])}/"
            f"{item['approvals_needed']} approvals  {len(item['diff'])} changes",
            highlight=False,
        )


def proposal(proposal_id: str, pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Show one proposal: diff, reviews and the impact report."""
    agent = open_agent(pack)
    agent.sync_policy()
    view = _view(agent, agent.proposals.get(proposal_id))
    if json_out:
        print_json(view)
        return
    _render(view)


def review(
    proposal_id: str,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the proposal.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the proposal.")] = False,
    comment: CommentOpt = None,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve or reject a proposal as the principal of your API key (never your own)."""
    if approve == reject:
        raise GovcxError("say --approve or --reject (exactly one)")
    agent = open_agent(pack)
    who, authenticated = _who(agent, key_file, as_, "reviewing a policy change")
    updated = agent.lifecycle.review(
        proposal_id,
        who=who,
        decision="approve" if approve else "reject",
        comment=comment,
        authenticated=authenticated,
    )
    view = _view(agent, updated)
    if json_out:
        print_json(view)
        return
    approvals = sum(r["decision"] == "approve" for r in view["reviews"])
    console.print(
        f"{proposal_id}: {view['status']} ({approvals}/{view['approvals_needed']} approvals)",
        highlight=False,
    )


def impact(
    proposal_id: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compute a pending proposal's impact report here and now: re-run a failed one (its
    author or an admin; audited), or finish one no server picked up."""
    from govcx.api.impacts import ImpactWorker
    from govcx.api.settings import ServerSettings
    from govcx.evals.impact import impact_report

    agent = open_agent(pack)
    who, authenticated = _who(agent, key_file, as_, "re-running an impact report")
    current = agent.proposals.get(proposal_id)
    if current.impact_status == "failed":
        agent.lifecycle.rerun_impact(proposal_id, who=who, authenticated=authenticated)
    elif current.status != "pending":
        raise Conflict(
            f"proposal {proposal_id} is {current.status}; only a pending proposal's impact "
            "report is computed"
        )
    worker = ImpactWorker(agent, impact_report, lease=ServerSettings().impact_lease)
    with console.status("replaying conversations under the candidate (impact report)..."):
        outcome = worker.run(proposal_id)
    updated = agent.proposals.get(proposal_id)
    if outcome is None and updated.impact_status == "running":
        raise Conflict(
            f"the impact report of proposal {proposal_id} is being computed by a server "
            f"(claimed {_ago(agent.clock() - (updated.impact_claimed_at or 0))} ago); "
            f"see it with `govcx policy proposal {proposal_id}` once it is done"
        )
    if outcome is None and updated.impact_status in ("done", "none"):
        raise Conflict(
            f"the impact report of proposal {proposal_id} is {updated.impact_status}; "
            "there is nothing to compute"
        )
    view = _view(agent, updated)
    if json_out:
        print_json(view)
        return
    _render(view)
    if updated.impact_status == "failed":
        raise typer.Exit(1)


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def activate(
    proposal_id: str,
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow",
            help="Run it in shadow first: it decides every live turn beside the active "
            "policy, without effect (see shadow-report).",
        ),
    ] = False,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Activate an approved proposal for every conversation (or --shadow)."""
    agent = open_agent(pack)
    who, _ = _who(agent, key_file, as_, "activating a policy change")
    if shadow:
        updated = agent.lifecycle.shadow(proposal_id, who=who)
    else:
        updated = agent.lifecycle.activate(proposal_id, who=who)
    _done(agent, updated, json_out)


def rollout(
    proposal_id: str,
    share: Annotated[
        int, typer.Option("--share", min=1, max=100, help="Percent of new conversations.")
    ],
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Let an approved proposal decide a share of the conversations that start from now
    (each keeps its policy for its whole life; 100 activates it)."""
    agent = open_agent(pack)
    who, _ = _who(agent, key_file, as_, "rolling out a policy change")
    updated = agent.lifecycle.rollout(proposal_id, who=who, share=share)
    _done(agent, updated, json_out)


def shadow_report(proposal_id: str, pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """What the candidate decided differently from the active policy on live turns."""
    agent = open_agent(pack)
    report = agent.lifecycle.shadow_report(proposal_id)
    if json_out:
        print_json(report)
        return
    console.print(
        f"[bold]{proposal_id}[/bold] ({escape(report['version'])} beside "
        f"{escape(report['base_version'])}, {report['status']}): {report['turns']} live turns "
        f"decided by both, {report['changed']} differently",
        highlight=False,
    )
    for workflow, changes in report["by_workflow"].items():
        counts = ", ".join(f"{n} {label}" for label, n in changes.items())
        console.print(f"  {escape(workflow)}: {counts}", highlight=False)
    for rule, changes in report["by_rule"].items():
        counts = ", ".join(f"{n} {label}" for label, n in changes.items())
        console.print(f"    rule {escape(rule)}: {counts}", highlight=False)


def rollback(
    version: Annotated[
        str | None, typer.Argument(help="An earlier active version (default: the previous).")
    ] = None,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Return to an earlier policy in one step; a running shadow or rollout ends."""
    agent = open_agent(pack)
    who, _ = _who(agent, key_file, as_, "rolling back the policy")
    result = agent.lifecycle.rollback(version, who=who)
    if json_out:
        print_json(result)
        return
    if result.get("from_version"):
        console.print(
            f"rolled back: policy {escape(result['version'])} is active again "
            f"(was {escape(result['from_version'])})",
            highlight=False,
        )
    else:
        console.print(
            f"rolled back: {result['ended_proposal']} stopped; policy "
            f"{escape(result['version'])} decides every conversation",
            highlight=False,
        )


def _done(agent: Any, updated: Any, json_out: bool) -> None:
    view = _view(agent, updated)
    if json_out:
        view.pop("impact", None)
        print_json(view)
        return
    share = f" to {view['share']}% of new conversations" if view["status"] == "rollout" else ""
    console.print(
        f"{view['proposal_id']}: {view['status']}{share}; active policy "
        f"{escape(agent.policy.version)}",
        highlight=False,
    )


def _render(view: dict[str, Any]) -> None:
    console.print(
        f"[bold]{view['proposal_id']}[/bold] {view['status']}: policy "
        f"{escape(view['base_version'])} → {escape(view['version'])} by "
        f"{escape(view['author'])}"
        + (f" — {escape(view['comment'])}" if view.get("comment") else ""),
        highlight=False,
    )
    for row in view["diff"]:
        mark = {"added": "+", "removed": "-", "changed": "~"}[row["change"]]
        console.print(f"  {mark} {row['path']}: {row['old']!r} → {row['new']!r}", highlight=False)
    impact = view.get("impact")
    if impact:
        comp = impact["compliance"]
        console.print(
            f"impact: {impact['conversations']} conversations replayed "
            f"({impact['from_suites']} from suites, {impact['recorded']} recorded in the last "
            f"{impact['days']} days), {impact['changed_steps']} steps change; governance "
            f"compliance: {comp['violations']} violations",
            highlight=False,
        )
        for workflow, rules in impact["by_workflow"].items():
            for rule, changes in rules.items():
                counts = ", ".join(f"{n} {label}" for label, n in changes.items())
                console.print(f"  {escape(workflow)} / {escape(rule)}: {counts}", highlight=False)
    elif view.get("impact_status") in ("pending", "running"):
        console.print("impact report running… (the server computes it)", highlight=False)
    elif view.get("impact_status") == "failed":
        console.print(
            f"impact report failed: {escape(view.get('impact_error') or '')} (re-run it: "
            f"govcx policy impact {view['proposal_id']}, or "
            f"POST /v1/policy/proposals/{view['proposal_id']}/impact)",
            highlight=False,
        )
    approvals = sum(r["decision"] == "approve" for r in view["reviews"])
    console.print(
        f"reviews: {approvals}/{view['approvals_needed']} approvals by "
        f"{', '.join(view['reviewer_roles'])} (never the author)",
        highlight=False,
    )
    for r in view["reviews"]:
        console.print(
            f"  {escape(r['principal'])}: {r['decision']}"
            + (f" — {escape(r['comment'])}" if r.get("comment") else ""),
            highlight=False,
        )
