"""The reply comes from the documents retrieval ranked, best first; close documents on
different topics escalate instead of a guess; a workflow's ``knowledge:`` is retrieved by
intent. End to end through the Agent on a small telecom pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from govcx.errors import PolicyError
from govcx.knowledge.retriever import rank_documents

if TYPE_CHECKING:
    from govcx.agent.agent import Agent

COVERAGE = """---
id: coverage-5g
title: 5G coverage
version: "1"
status: approved
tags: [network]
---
# 5G coverage

Our 5G network covers every city with more than 50,000 people.
In rural areas 5G coverage is limited to main roads; elsewhere phones use 4G, which reaches
98 percent of the country. You can check the coverage map for your address in the app.
"""

OUTAGE = """---
id: outage-credit
title: Outage credits
version: "1"
status: approved
tags: [billing]
---
# Outage credits

If a network outage in your area lasts longer than 24 hours, we credit one day of your
plan for every day without service. Outage credits for rural areas and cities are applied
to the next bill automatically; you do not need to ask for them.
"""

ROAMING = """---
id: roaming-eu
title: Roaming in the EU
version: "1"
status: approved
tags: [travel]
---
Roaming in the EU is included in every plan at no extra cost, with the same data allowance
as at home.
"""

ROAMING_FEES = """---
id: roaming-fees
title: Roaming outside the EU
version: "1"
status: approved
tags: [billing]
---
Roaming outside the EU costs 5 per day for a daily pass, charged only on days you use data.
"""

ESCALATION_PROCEDURE = """---
id: proc-unlock
title: Agent procedure for SIM unlock requests
version: "1"
status: approved
tags: [procedure]
---
Verify the account holder first. An unlock code is issued once the device is paid off;
otherwise explain the remaining instalments.
"""

POLICY = """version: "m1"
defaults: {autonomy: act, min_confidence: 0.3}
approvals: {roles: {supervisor: {max_amount: 100}}}
tiers:
  read: {approval: never}
workflows:
  network_question:
    examples: ["do you have 5G where I live", "is there coverage in my town",
               "how good is your network", "network coverage question",
               "do you cover the countryside", "is 5G available in my area",
               "roaming in europe", "how much is roaming", "can I use my phone abroad"]
  sim_unlock:
    examples: ["unlock my phone", "I need an unlock code", "can you unlock my SIM",
               "my phone is locked to your network", "network unlock please"]
    knowledge: [procedure]
routing:
  teams: {support: {}}
  default: {team: support, priority: normal}
"""


def _pack(root: Path, policy: str = POLICY) -> Path:
    pack = root / "mobile"
    (pack / "knowledge").mkdir(parents=True)
    (pack / "govcx.yaml").write_text(
        "name: mobile\npolicy: policy.yaml\nknowledge: knowledge/\ntools: null\n"
        "principals:\n  web: {roles: [channel]}\n"
    )
    (pack / "policy.yaml").write_text(policy)
    for name, text in {
        "coverage.md": COVERAGE,
        "outage.md": OUTAGE,
        "roaming.md": ROAMING,
        "roaming-fees.md": ROAMING_FEES,
        "unlock.md": ESCALATION_PROCEDURE,
    }.items():
        (pack / "knowledge" / name).write_text(text)
    return pack


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    from govcx.agent.agent import Agent
    from govcx.settings import Settings

    root = tmp_path_factory.mktemp("mobile")
    opened = Agent.open(_pack(root), Settings(home=root / "state"))
    yield opened
    opened.close()


def test_the_reply_comes_from_the_article_retrieval_ranks_first(agent: Agent) -> None:
    question = "Do you have 5G coverage in rural areas?"
    ranked = rank_documents(agent.retriever, question, k=3)
    assert [d.doc_id for d in ranked[:2]] == ["coverage-5g", "outage-credit"]

    turn = agent.respond("c-coverage", question, customer_id="C-1")
    assert turn.status == "answered", turn
    assert turn.reply is not None
    # Before the fix the reply also quoted the outage-credit article, and cited it.
    assert [c.doc_id for c in turn.reply.citations] == ["coverage-5g"]
    assert "credit" not in turn.reply.text.lower()
    assert "rural areas 5G coverage is limited to main roads" in turn.reply.text


def test_close_documents_on_different_topics_escalate_instead_of_a_guess(agent: Agent) -> None:
    question = "How much does roaming cost?"
    ranked = rank_documents(agent.retriever, question, k=2)
    assert {d.doc_id for d in ranked} == {"roaming-eu", "roaming-fees"}
    assert ranked[1].score >= 0.85 * ranked[0].score

    turn = agent.respond("c-roaming", question, customer_id="C-2")
    assert turn.status == "escalated", turn
    assert turn.case_id is not None
    events = [
        e for e in agent.audit.events(conversation_id="c-roaming") if e.kind == "confidence_check"
    ]
    assert events and sorted(events[-1].data["knowledge_conflict"]) == [
        "roaming-eu",
        "roaming-fees",
    ]


def test_a_workflow_names_its_procedure_and_gets_it_by_intent(agent: Agent) -> None:
    # No word of the message is in the procedure article: it comes by the intent.
    turn = agent.respond("c-unlock", "can you unlock my SIM", customer_id="C-3")
    assert turn.intent == "sim_unlock", turn
    events = [e for e in agent.audit.events(conversation_id="c-unlock") if e.kind == "retrieve"]
    first = events[-1].data["chunks"][0]
    assert first["doc_id"] == "proc-unlock" and first["pinned"] is True
    assert turn.reply is not None
    assert [c.doc_id for c in turn.reply.citations] == ["proc-unlock"]


def test_a_policy_naming_an_unknown_article_is_refused_at_load(tmp_path: Path) -> None:
    from govcx.agent.agent import Agent
    from govcx.settings import Settings

    policy = POLICY.replace("knowledge: [procedure]", "knowledge: [procedure, proc-missing]")
    with pytest.raises(PolicyError) as caught:
        Agent.open(_pack(tmp_path, policy), Settings(home=tmp_path / "state"))
    message = caught.value.message
    assert "workflows.sim_unlock.knowledge" in str(caught.value)
    assert "'proc-missing'" in message and "'procedure'" not in message
    assert "coverage-5g" in message  # what would be valid
