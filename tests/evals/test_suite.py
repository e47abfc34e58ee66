"""Suite files: what loads, and schema errors that name the file, the case and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govcx.errors import SuiteError
from govcx.evals.suite import case_policy, load_suite, load_suites, merge, parse_suite
from govcx.pack import load_pack
from tests.conftest import SHOP


def _suite(**case: Any) -> dict[str, Any]:
    base = {"id": "c1", "turns": [{"user": "hi"}]}
    return {"name": "s", "cases": [{**base, **case}]}


def _error(data: Any) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        parse_suite(data, file="suites/x.yaml")
    return info.value


def test_contract_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text("""
name: acme-smoke
cases:
  - id: refund-over-limit
    tags: [refund, approval]
    customer: C-1001
    turns:
      - user: "Please refund $80 for order A-1002"
        expect:
          status: pending_approval
          intent: refund
          actions: [{tool: issue_refund, args: {order_id: A-1002, amount: 80}, status: pending}]
      - decide: {as: dana, decision: approve}
        expect:
          status: answered
          actions: [{tool: issue_refund, status: executed}]
          reply_contains: ["refund"]
          reply_not_contains: ["4111"]
          citations: false
""")
    suite = load_suite(path)
    case = suite.cases[0]
    assert [s.kind for s in case.turns] == ["user", "decide"]
    assert case.turns[1].decide is not None and case.turns[1].decide.as_ == "dana"
    assert case.turns[0].expect is not None
    assert case.turns[0].expect.actions is not None
    assert case.turns[0].expect.actions[0].args == {"order_id": "A-1002", "amount": 80}


def test_unknown_expect_key_names_file_case_and_key() -> None:
    err = _error(_suite(id="refund-x", turns=[{"user": "hi", "expect": {"staus": "answered"}}]))
    assert "suites/x.yaml" in err.message
    assert "case refund-x" in err.message
    assert "turns[0].expect.staus" in err.message
    assert "unknown key" in err.message and "status" in err.message  # lists valid keys


def test_bad_status_value_lists_valid_values() -> None:
    err = _error(_suite(turns=[{"user": "hi", "expect": {"status": "done"}}]))
    assert "turns[0].expect.status" in err.message
    assert "pending_approval" in err.message


def test_case_without_id_is_named_by_position() -> None:
    err = _error(
        {"name": "s", "cases": [{"id": "ok", "turns": [{"user": "a"}]}, {"turns": [{"user": "b"}]}]}
    )
    assert "case #2" in err.message and "id" in err.message


def test_unknown_case_key() -> None:
    err = _error(_suite(customr="C-1"))
    assert "case c1" in err.message and "customr" in err.message


def test_step_needs_exactly_one_kind() -> None:
    err = _error(_suite(turns=[{"user": "hi", "decide": {"as": "sup", "decision": "approve"}}]))
    assert "exactly one of user, decide or advance" in err.message
    err = _error(_suite(turns=[{"expect": {"status": "answered"}}]))
    assert "exactly one" in err.message


def test_edit_needs_args_and_error_stands_alone() -> None:
    err = _error(_suite(turns=[{"decide": {"as": "sup", "decision": "edit"}}]))
    assert "edit needs args" in err.message
    err = _error(
        _suite(
            turns=[
                {
                    "decide": {"as": "sup", "decision": "approve"},
                    "expect": {"error": "not_authorized", "status": "answered"},
                }
            ]
        )
    )
    assert "error cannot be combined with status" in err.message


def test_duplicate_case_ids_and_bad_ids() -> None:
    err = _error(
        {
            "name": "s",
            "cases": [{"id": "a", "turns": [{"user": "x"}]}, {"id": "a", "turns": [{"user": "y"}]}],
        }
    )
    assert "used twice" in err.message
    err = _error(_suite(id="has space"))
    assert "not a valid case id" in err.message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: s\ncases: [\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert "bad.yaml" in info.value.message and "line" in info.value.message


def test_folder_expands_and_ids_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\ncases: [{id: one, turns: [{user: hi}]}]\n")
    (tmp_path / "b.yml").write_text("name: b\ncases: [{id: two, turns: [{user: hi}]}]\n")
    assert [s.name for s in load_suites([tmp_path])] == ["a", "b"]
    (tmp_path / "c.yaml").write_text("name: c\ncases: [{id: one, turns: [{user: hi}]}]\n")
    with pytest.raises(SuiteError, match="also used in"):
        load_suites([tmp_path])


def test_policy_override_merges_and_is_validated() -> None:
    policy = load_pack(SHOP).policy
    suite = parse_suite(
        _suite(
            policy={
                "tools": {"issue_refund": {"approval_if": "amount > 10"}},
                "workflows": {"refund": {"autonomy": "draft"}},
            }
        )
    )
    merged = case_policy(policy, suite.cases[0])
    assert merged.tools["issue_refund"].approval_if == "amount > 10"
    assert merged.tools["issue_refund"].tier == "low"  # untouched keys kept
    assert merged.workflows["refund"].autonomy == "draft"
    assert merged.workflows["refund"].examples == policy.workflows["refund"].examples
    assert merged.version == f"{policy.version}+c1"
    bad = parse_suite(
        _suite(id="bad-policy", policy={"tools": {"issue_refund": {"tier": "nope"}}}), file="x.yaml"
    )
    with pytest.raises(SuiteError) as info:
        case_policy(policy, bad.cases[0], file="x.yaml")
    assert "case bad-policy" in info.value.message
    assert "policy.tools.issue_refund.tier" in info.value.message


def test_merge_replaces_lists() -> None:
    assert merge({"a": {"b": [1, 2], "c": 1}}, {"a": {"b": [3]}}) == {"a": {"b": [3], "c": 1}}
