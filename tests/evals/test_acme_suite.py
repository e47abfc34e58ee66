"""The acme pack's eval suites: valid, and covering what the pack promises.

Running them needs the real guard and knowledge base (CI runs `govcx eval run
--fail-under ...`); these checks are structural and fast.
"""

from __future__ import annotations

from govcx.evals.suite import case_policy, load_suites
from govcx.pack import load_pack


def test_acme_suites_cover_every_workflow_route_guard_and_approval_path() -> None:
    pack = load_pack()
    assert pack.evals_dir is not None
    suites = load_suites([pack.evals_dir])
    cases = [(s, c) for s in suites for c in s.cases]
    assert len(cases) >= 60
    tags = {t for s, c in cases for t in s.case_tags(c)}
    assert set(pack.policy.workflows) <= tags, set(pack.policy.workflows) - tags
    assert {"pii", "injection", "self-harm", "legal_threat", "abuse", "human_agent"} <= tags
    assert {"approve", "reject", "edit", "four-eyes", "over-authority", "expiry"} <= tags
    statuses = {
        t.expect.status
        for _, c in cases
        for t in c.turns
        if t.expect is not None and t.expect.status
    }
    assert statuses == {"answered", "pending_approval", "escalated", "blocked", "with_human"}
    for suite, case in cases:
        case_policy(pack.policy, case, file=suite.file)  # overrides merge into a valid policy
        for step in case.turns:
            if step.decide is not None:
                pack.principal(step.decide.as_)  # every decider is a principal of the pack


def test_no_eval_turn_is_a_training_example() -> None:
    """The suites measure how the classifier generalises: a user turn that repeats a
    workflow's training example (case and surrounding spaces ignored) would measure recall
    of the training set instead."""
    pack = load_pack()
    assert pack.evals_dir is not None
    examples = {
        e.strip().casefold(): name
        for name, workflow in pack.policy.workflows.items()
        for e in workflow.examples
    }
    copied = [
        (case.id, turn.user, examples[turn.user.strip().casefold()])
        for suite in load_suites([pack.evals_dir])
        for case in suite.cases
        for turn in case.turns
        if turn.user and turn.user.strip().casefold() in examples
    ]
    assert copied == []
