"""The policy lifecycle end to end on the Agent: propose (with the impact report), two
reviewers, shadow and its differences, a 20% rollout checked over 1,000 conversations,
activation and rollback; and the refusals (the author, one reviewer, a role that is no
reviewer's, a tampered proposal), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from govcx.agent.agent import Agent
from govcx.errors import (
    Conflict,
    DuplicateApprover,
    InvalidInput,
    NotAuthorized,
    PolicyError,
    ProposalTampered,
)
from govcx.evals.impact import impact_report
from govcx.governance.policy import Policy, parse_policy
from govcx.governance.principal import Principal
from govcx.governance.proposals import Rollout, bucket, in_rollout, review_bar
from tests.conftest import SHOP

ROOT = Principal(name="root", roles=frozenset({"admin"}))
RITA = Principal(name="rita", roles=frozenset({"risk"}))
LENA = Principal(name="lena", roles=frozenset({"legal"}))
SUP = Principal(name="sup", roles=frozenset({"approver:supervisor"}))
REFUND_80 = "please refund $80 for order A-1002"


def governed_pack(root: Path, **changes: Any) -> Path:
    """A copy of the shop pack whose policy is governed by two of risk/legal, with
    an admin and reviewers among its principals."""
    pack = root / "governed"
    shutil.copytree(SHOP, pack)
    policy = yaml.safe_load((pack / "policy.yaml").read_text())
    policy["governance"] = {"policy_changes": {"approvers": 2, "roles": ["risk", "legal"]}}
    policy.update(changes)
    (pack / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = yaml.safe_load((pack / "govcx.yaml").read_text())
    config["principals"].update(
        {
            "root": {"roles": ["admin"]},
            "rita": {"roles": ["risk"]},
            "lena": {"roles": ["legal"]},
        }
    )
    (pack / "govcx.yaml").write_text(yaml.safe_dump(config))
    return pack


def candidate(agent: Agent, version: str = "t2", limit: int = 100) -> Policy:
    """The active policy with refunds up to ``limit`` running without approval."""
    data = agent.policy.model_dump(mode="json")
    data["version"] = version
    data["tools"]["issue_refund"]["approval_if"] = f"amount > {limit}"
    return parse_policy(data)


def approved(agent: Agent, new: Policy) -> str:
    proposal = agent.lifecycle.propose(new, author=ROOT, comment="refunds up to $100")
    agent.lifecycle.review(proposal.proposal_id, who=RITA, decision="approve")
    agent.lifecycle.review(proposal.proposal_id, who=LENA, decision="approve")
    return proposal.proposal_id


@pytest.fixture
def governed(tmp_path: Path, make_agent: Callable[..., Agent]) -> Agent:
    return make_agent(governed_pack(tmp_path))


pg = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pg
def test_the_whole_path(backend: str, governed: Agent, clock: Any) -> None:
    agent = governed
    before = agent.respond("c-before", REFUND_80, customer_id="C-1")
    assert before.status == "pending_approval"
    new = candidate(agent)

    # Propose, with the impact report of the recorded conversation.
    impact = impact_report(agent, new)
    assert impact["recorded"] == 1 and impact["days"] == 30
    assert impact["decisions"] == {"newly autonomous": 1}
    assert impact["by_workflow"]["refund"]["tool.issue_refund.approval_if"] == {
        "newly autonomous": 1
    }
    assert impact["compliance"] == {
        "checked": True,
        "violations": 0,
        "compliant_conversations": 1,
    }
    proposal = agent.lifecycle.propose(new, author=ROOT, comment="refunds to $100", impact=impact)
    pid = proposal.proposal_id
    assert proposal.status == "pending"
    assert proposal.impact == json.loads(json.dumps(impact))  # stored as JSON
    assert [row["path"] for row in agent.lifecycle.diff(proposal)] == [
        "tools.issue_refund.approval_if",
        "version",
    ]

    # Two reviewers: the first leaves it pending, the second approves it.
    assert agent.lifecycle.review(pid, who=RITA, decision="approve").status == "pending"
    with pytest.raises(Conflict, match="1 approval"):
        agent.lifecycle.activate(pid, who=ROOT)
    assert agent.lifecycle.review(pid, who=LENA, decision="approve").status == "approved"

    # Shadow: the candidate decides beside the active policy, without effect.
    agent.lifecycle.shadow(pid, who=ROOT)
    live = agent.respond("c-shadow", REFUND_80, customer_id="C-1")
    assert live.status == "pending_approval"
    assert live.decision is not None and live.decision.policy_version == "t1"
    small = agent.respond("c-small", "please refund $20 for order A-1001", customer_id="C-1")
    assert small.status == "answered"
    report = agent.lifecycle.shadow_report(pid)
    assert report["turns"] == 2 and report["changed"] == 1
    assert report["by_workflow"] == {"refund": {"newly autonomous": 1}}
    assert report["examples"][0]["active"]["route"] == "await_approval"
    assert report["examples"][0]["candidate"]["route"] == "execute"

    # 20% rollout, sticky per conversation.
    clock.now += 60
    agent.lifecycle.rollout(pid, who=ROOT, share=20)
    assert agent.policy_for("c-before").version == "t1"  # started before the rollout
    chosen = [agent.policy_for(f"conv-{i}").version for i in range(1000)]
    share = chosen.count("t2")
    # Binomial(1000, 0.2): sd = sqrt(1000 * 0.2 * 0.8) = 12.6; 4.5 sd either side is a
    # false failure once in ~150,000 runs (the proposal id, and so the sample, is random).
    assert abs(share - 200) <= 4.5 * math.sqrt(1000 * 0.2 * 0.8), share
    for i in range(12):
        cid = f"live-{i}"
        turn = agent.respond(cid, REFUND_80, customer_id="C-1")
        applied = agent.policy_for(cid).version
        assert turn.decision is not None and turn.decision.policy_version == applied
        assert turn.status == ("answered" if applied == "t2" else "pending_approval")
    # The share in force when a conversation started keeps deciding it.
    clock.now += 60
    agent.lifecycle.rollout(pid, who=ROOT, share=50)
    assert [agent.policy_for(f"conv-{i}").version for i in range(1000)].count("t2") > share

    # Activate for everyone, then roll back in one step.
    agent.lifecycle.activate(pid, who=ROOT)
    assert agent.policy.version == "t2" and agent.rollout is None
    assert agent.respond("c-after", REFUND_80, customer_id="C-1").status == "answered"
    result = agent.lifecycle.rollback(who=ROOT)
    assert result == {"version": "t1", "from_version": "t2", "ended_proposal": None}
    assert agent.policy.version == "t1"
    assert agent.proposals.get(pid).status == "ended"
    kinds = [e.kind for e in agent.audit.events() if e.kind.startswith("policy.")]
    assert kinds == [
        "policy.activated",  # the pack's file at start-up
        "policy.proposed",
        "policy.reviewed",
        "policy.reviewed",
        "policy.shadow_started",
        "policy.rollout",
        "policy.rollout",
        "policy.activated",
        "policy.activated",
        "policy.rolled_back",
    ]
    assert agent.audit.verify().ok


@pg
def test_refusals(backend: str, governed: Agent) -> None:
    agent = governed
    pid = agent.lifecycle.propose(candidate(agent), author=RITA).proposal_id
    with pytest.raises(NotAuthorized, match="author"):
        agent.lifecycle.review(pid, who=RITA, decision="approve")
    with pytest.raises(NotAuthorized, match="author"):  # a name differing only in case
        agent.lifecycle.review(
            pid, who=Principal(name=" Rita", roles=frozenset({"legal"})), decision="approve"
        )
    with pytest.raises(NotAuthorized, match="risk, legal"):
        agent.lifecycle.review(pid, who=SUP, decision="approve")
    with pytest.raises(NotAuthorized, match="risk, legal"):  # an admin is no reviewer here
        agent.lifecycle.review(pid, who=ROOT, decision="approve")
    agent.lifecycle.review(pid, who=LENA, decision="approve")
    with pytest.raises(DuplicateApprover):
        agent.lifecycle.review(pid, who=LENA, decision="approve")
    assert agent.proposals.get(pid).status == "pending"  # one reviewer is not enough
    actions: list[Callable[[], object]] = [
        lambda: agent.lifecycle.shadow(pid, who=ROOT),
        lambda: agent.lifecycle.rollout(pid, who=ROOT, share=20),
        lambda: agent.lifecycle.activate(pid, who=ROOT),
    ]
    for action in actions:
        with pytest.raises(Conflict, match="needs 2"):
            action()
    with pytest.raises(NotAuthorized, match="admin"):
        agent.lifecycle.activate(pid, who=RITA)
    with pytest.raises(InvalidInput, match="share"):
        agent.lifecycle.rollout(pid, who=ROOT, share=0)
    with pytest.raises(NotAuthorized, match="proposing"):
        agent.lifecycle.propose(candidate(agent, "t3"), author=SUP)
    with pytest.raises(Conflict, match="nothing to propose"):
        agent.lifecycle.propose(agent.policy, author=ROOT)
    # A rejection is final.
    other = agent.lifecycle.propose(candidate(agent, "t4", 70), author=ROOT).proposal_id
    assert agent.lifecycle.review(other, who=RITA, decision="reject").status == "rejected"
    with pytest.raises(Conflict, match="rejected"):
        agent.lifecycle.review(other, who=LENA, decision="approve")
    # A rollback restores what was once active, never unreviewed content.
    with pytest.raises(InvalidInput, match="never active"):
        agent.lifecycle.rollback("t4", who=ROOT)
    assert agent.policy.version == "t1"


@pg
def test_a_tampered_proposal_is_unusable(backend: str, governed: Agent) -> None:
    agent = governed
    pid = approved(agent, candidate(agent))
    with agent.db.begin() as conn:  # someone with database access widens the candidate
        conn.execute(
            text("UPDATE policy_proposals SET body = REPLACE(body, :a, :b) WHERE proposal_id = :p"),
            {"a": "amount > 100", "b": "amount > 100000", "p": pid},
        )
    tampered: list[Callable[[], object]] = [
        lambda: agent.proposals.get(pid),
        lambda: agent.lifecycle.activate(pid, who=ROOT),
        lambda: agent.lifecycle.rollout(pid, who=ROOT, share=20),
        lambda: agent.lifecycle.shadow(pid, who=ROOT),
    ]
    for action in tampered:
        with pytest.raises(ProposalTampered, match="digest"):
            action()
    assert agent.policy.version == "t1"


@pg
def test_a_proposal_tampered_during_its_rollout_stops_deciding(
    backend: str, governed: Agent, make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = governed
    pid = approved(agent, candidate(agent))
    agent.lifecycle.rollout(pid, who=ROOT, share=100 - 1)
    with agent.db.begin() as conn:
        conn.execute(
            text("UPDATE policy_proposals SET digest = :d WHERE proposal_id = :p"),
            {"d": "0" * 64, "p": pid},
        )
    other = make_agent(tmp_path / "governed")  # another worker starting now
    assert other.rollout is None
    assert {other.policy_for(f"c{i}").version for i in range(50)} == {"t1"}


@pg
def test_the_active_policy_sets_the_bar(backend: str, governed: Agent) -> None:
    agent = governed
    ungoverned = candidate(agent).model_copy(update={"governance": None})
    stricter_data = candidate(agent, "t3").model_dump(mode="json")
    stricter_data["governance"] = {"policy_changes": {"approvers": 3, "roles": ["risk"]}}
    stricter = parse_policy(stricter_data)
    # Dropping the section still takes the active policy's two reviewers.
    assert review_bar(agent.policy, ungoverned).approvers == 2
    # Asking for more reviewers needs them already; the roles stay the active policy's.
    bar = review_bar(agent.policy, stricter)
    assert (bar.approvers, bar.roles) == (3, ("risk", "legal"))
    pid = agent.lifecycle.propose(ungoverned, author=ROOT).proposal_id
    agent.lifecycle.review(pid, who=RITA, decision="approve")
    assert agent.proposals.get(pid).status == "pending"


def test_a_proposal_over_another_base_is_stale(governed: Agent) -> None:
    agent = governed
    first = approved(agent, candidate(agent, "t2"))
    second = approved(agent, candidate(agent, "t3", 70))
    agent.lifecycle.activate(first, who=ROOT)
    with pytest.raises(Conflict, match="propose it again"):
        agent.lifecycle.activate(second, who=ROOT)


def test_a_new_pack_file_does_not_bypass_review(
    tmp_path: Path, make_agent: Callable[..., Agent]
) -> None:
    pack = governed_pack(tmp_path)
    agent = make_agent(pack)
    data = yaml.safe_load((pack / "policy.yaml").read_text())
    data["version"] = "t9"
    data["tools"]["issue_refund"]["approval_if"] = "amount > 100000"
    (pack / "policy.yaml").write_text(yaml.safe_dump(data))
    restarted = make_agent(pack)
    assert restarted.policy.version == "t1"
    assert agent.sync_policy().version == "t1"


def test_reviewer_roles_must_be_named_by_the_policy(tmp_path: Path) -> None:
    from govcx.errors import ConfigError
    from govcx.pack import load_pack

    pack = governed_pack(tmp_path)
    config = yaml.safe_load((pack / "govcx.yaml").read_text())
    config["principals"]["typo"] = {"roles": ["rsik"]}
    (pack / "govcx.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"governance\.policy_changes\.roles"):
        load_pack(pack)


def test_bad_governance_sections_are_refused() -> None:
    data = yaml.safe_load((SHOP / "policy.yaml").read_text())
    for section, field in (
        ({"policy_changes": {"approvers": 0, "roles": ["risk"]}}, "approvers"),
        ({"policy_changes": {"approvers": 2, "roles": []}}, "roles"),
        ({"policy_changes": {"approvers": 2, "roles": ["channel"]}}, "roles"),
        ({"policy_change": {}}, "policy_change"),
    ):
        with pytest.raises(PolicyError) as caught:
            parse_policy({**data, "governance": section})
        assert field in str(caught.value.message) + str(caught.value.details), caught.value


def test_the_digest_of_a_policy_without_governance_is_unchanged() -> None:
    """Policies stored before the section existed keep their digest (and so every
    approval bound to it stays decidable)."""
    import hashlib
    import json

    policy = parse_policy(yaml.safe_load((SHOP / "policy.yaml").read_text()))
    legacy = policy.model_dump(mode="json")
    legacy.pop("governance")
    for tool in legacy["tools"].values():
        tool.pop("identifiers")  # unset: left out like the governance section
    material = json.dumps(legacy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert policy.digest == hashlib.sha256(material.encode()).hexdigest()


# -- the share function ------------------------------------------------------------------
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=40)


@given(conversation=ids, proposal=ids, low=st.integers(0, 100), high=st.integers(0, 100))
@settings(max_examples=300, deadline=None)
def test_membership_is_deterministic_and_monotone_in_the_share(
    conversation: str, proposal: str, low: int, high: int
) -> None:
    low, high = sorted((low, high))
    assert in_rollout(conversation, proposal, low) == in_rollout(conversation, proposal, low)
    if in_rollout(conversation, proposal, low):
        assert in_rollout(conversation, proposal, high)  # raising the share only adds
    assert not in_rollout(conversation, proposal, 0)
    assert in_rollout(conversation, proposal, 100)
    assert 0 <= bucket(conversation, proposal) < 10_000


@given(
    conversation=ids,
    started=st.floats(0, 1000),
    history=st.lists(st.tuples(st.floats(0, 1000), st.integers(1, 99)), min_size=1, max_size=5).map(
        sorted
    ),
    later=st.integers(1, 99),
)
@settings(max_examples=300, deadline=None)
def test_a_conversation_keeps_the_share_it_started_under(
    conversation: str, started: float, history: list[tuple[float, int]], later: int
) -> None:
    policy = parse_policy(yaml.safe_load((SHOP / "policy.yaml").read_text()))
    first = Rollout(
        seq=1,
        proposal_id="prop_x",
        mode="rollout",
        share=history[-1][1],
        candidate=policy,
        history=tuple(history),
    )
    # A share change after the conversation started does not move it.
    moved = Rollout(
        seq=2,
        proposal_id="prop_x",
        mode="rollout",
        share=later,
        candidate=policy,
        history=(*history, (max(started, history[-1][0]) + 1, later)),
    )
    assert first.applies(conversation, started) == moved.applies(conversation, started)
    if started < history[0][0]:  # already running when the rollout began
        assert not first.applies(conversation, started)


@given(proposal=ids)
@settings(max_examples=20, deadline=None)
def test_shares_are_close_to_the_target_over_many_conversations(proposal: str) -> None:
    n = 4000
    inside = sum(in_rollout(f"conv_{i}", proposal, 20) for i in range(n))
    assert abs(inside - 0.2 * n) <= 5 * math.sqrt(n * 0.2 * 0.8)


def test_an_approval_under_a_rollout_is_decided_under_the_candidate(governed: Agent) -> None:
    """A conversation of the rollout asks for approval under the candidate's rules, and
    its approval (bound to the candidate's digest) stays decidable while the rollout runs;
    once the rollout ends it is superseded like any approval of a policy that stopped."""
    agent = governed
    pid = approved(agent, candidate(agent))
    agent.lifecycle.rollout(pid, who=ROOT, share=50)
    cid = next(f"r{i}" for i in range(100) if in_rollout(f"r{i}", pid, 50))
    turn = agent.respond(cid, "please refund $150 for order A-1002", customer_id="C-1")
    assert turn.status == "pending_approval" and turn.decision is not None
    assert turn.decision.policy_version == "t2"
    request = agent.approvals.get(str(turn.approval_id))
    assert request.policy_version == "t2"
    boss = Principal(name="boss", roles=frozenset({"approver:manager"}))
    assert agent.decide(request.approval_id, principal=boss, decision="approve").status == (
        "answered"
    )
    other = next(f"s{i}" for i in range(100) if in_rollout(f"s{i}", pid, 50))
    waiting = agent.respond(other, "please refund $150 for order A-1002", customer_id="C-1")
    agent.lifecycle.rollback(who=ROOT)  # stops the rollout: t1 decides everyone
    assert agent.approvals.get(str(waiting.approval_id)).status == "superseded"


def test_shadow_grounds_arguments_under_the_candidates_own_policy(
    tmp_path: Path, make_agent: Callable[..., Agent]
) -> None:
    """Which arguments must be grounded is policy (``tools.X.identifiers``): the candidate
    judges the turn with its own list, not the live policy's. Here the live policy grounds
    no identifier and refunds an order the customer never named; the candidate requires
    it, so it would have asked which order (it used to reuse the live finding: no change)."""
    from govcx.engines.llm import LLMEngine
    from govcx.testing import ModelRequest, ModelResponse, ScriptedChatModel, call, classified
    from govcx.testing import reply as model_reply
    from tests.llm.conftest import FAST

    pack = governed_pack(tmp_path)
    policy_file = pack / "policy.yaml"
    data = yaml.safe_load(policy_file.read_text())
    data["tools"]["issue_refund"]["identifiers"] = []
    policy_file.write_text(yaml.safe_dump(data))

    def model(request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified("refund", 0.95)
        if request.purpose == "plan":
            return call("issue_refund", order_id="A-1002", amount=20)
        return model_reply("Thanks for your message.")

    live_policy = parse_policy(data)
    engine = LLMEngine(
        ScriptedChatModel(script=model), policy=live_policy, options=FAST, sleep=lambda s: None
    )
    agent = make_agent(pack, engine=engine)
    strict = agent.policy.model_dump(mode="json")
    strict["version"] = "t2"
    strict["tools"]["issue_refund"]["identifiers"] = ["order_id"]
    pid = approved(agent, parse_policy(strict))
    agent.lifecycle.shadow(pid, who=ROOT)

    live = agent.respond("c-g", "please refund $20 for my last order", customer_id="C-1")
    assert live.status == "answered"
    assert [(a.tool, a.status) for a in live.actions] == [("issue_refund", "executed")]
    report = agent.lifecycle.shadow_report(pid)
    assert report["turns"] == 1 and report["changed"] == 1, report
    [example] = report["examples"]
    assert example["active"]["route"] == "execute"
    assert example["candidate"]["route"] == "respond"
    assert "identifier.ungrounded" in example["candidate"]["rules"]
