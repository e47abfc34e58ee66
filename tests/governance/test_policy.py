"""Policy files: valid ones load, and each kind of mistake names the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from govcx.errors import ConfigError, PolicyError
from govcx.governance.policy import diff_policies, load_policy, parse_duration, policy_from_text
from govcx.pack import load_pack

BASE = """
version: "1"
tiers: {read: {approval: never}, low: {approval: never}}
workflows:
  refund: {autonomy: act, tools: [issue_refund]}
tools:
  issue_refund: {tier: low, approval_if: "amount > 50"}
"""


def test_shop_policy_loads(shop_pack_dir: Path) -> None:
    policy = load_policy(shop_pack_dir / "policy.yaml")
    assert policy.version == "t1"
    assert policy.tiers["critical"].approvers == 2
    assert policy.approvals.on_expiry == "escalate"
    assert policy.autonomy_of("close_account") == "recommend"


def test_numeric_version_is_text() -> None:
    assert policy_from_text("version: 2026.11\ntiers: {a: {}}\nworkflows: {}").version == "2026.11"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("version: 1\ntiers: {a: {}}\nworkflows: {}\nworkflowz: {}", "workflowz", "unknown key"),
        (
            "version: 1\ntiers: {a: {approval: sometimes}}\nworkflows: {}",
            "tiers.a.approval",
            "'never' or 'always'",
        ),
        ("version: 1\nworkflows: {}", "tiers", "required"),
        (
            "version: 1\ntiers: {a: {}}\nworkflows: {x: {autonomy: yolo}}",
            "workflows.x.autonomy",
            "'act', 'draft', 'recommend' or 'escalate'",
        ),
        (
            "version: 1\ntiers: {a: {}}\nworkflows: {x: {tools: [t]}}",
            "workflows.x.tools[0]",
            "no entry under tools",
        ),
        (
            "version: 1\ntiers: {a: {}}\nworkflows: {}\ntools: {t: {tier: b}}",
            "tools.t.tier",
            "valid tiers: a",
        ),
        (
            "version: 1\ntiers: {a: {}}\nworkflows: {}\ntools: {t: {tier: a, approval_if: 'x >'}}",
            "tools.t.approval_if",
            "not a valid CEL expression",
        ),
        (
            "version: 1\napprovals: {expiry: soon}\ntiers: {a: {}}\nworkflows: {}",
            "approvals.expiry",
            "30m, 24h, 7d",
        ),
        (
            "version: 1\napprovals: {on_expiry: approve}\ntiers: {a: {}}\nworkflows: {}",
            "approvals.on_expiry",
            "'reject' or 'escalate'",
        ),
        (
            "version: 1\ndefaults: {min_confidence: 2}\ntiers: {a: {}}\nworkflows: {}",
            "defaults.min_confidence",
            "less than or equal to 1",
        ),
        (
            "version: 1\ntiers: {a: {roles: [boss]}}\nworkflows: {}",
            "tiers.a.roles",
            "unknown approver role 'boss'",
        ),
        (
            "version: 1\ntiers: {a: {approvers: 0}}\nworkflows: {}",
            "tiers.a.approvers",
            "greater than or equal to 1",
        ),
    ],
)
def test_each_mistake_names_file_and_field(text: str, field: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_text(text, file="policy.yaml")
    message = str(info.value)
    assert message.startswith(f"policy.yaml: {field}: "), message
    assert words in message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ntiers: [\n")
    with pytest.raises(PolicyError, match=r"policy.yaml: line \d+"):
        load_policy(path)


def test_not_a_mapping_and_missing_and_binary(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        policy_from_text("- a\n- b\n")
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(binary)


def _pack_with_policy(tmp_path: Path, shop: Path, policy_text: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    for name in ("govcx.yaml", "tools.py"):
        (pack / name).write_text((shop / name).read_text())
    (pack / "knowledge").mkdir()
    (pack / "policy.yaml").write_text(policy_text)
    return pack


def test_condition_naming_unknown_argument_is_refused(tmp_path: Path, shop_pack_dir: Path) -> None:
    text = (shop_pack_dir / "policy.yaml").read_text().replace('"amount > 50"', '"amont > 50"')
    pack = _pack_with_policy(tmp_path, shop_pack_dir, text)
    with pytest.raises(PolicyError) as info:
        load_pack(pack)
    assert "tools.issue_refund.approval_if" in str(info.value)
    assert "unknown name 'amont'" in str(info.value)
    assert "order_id, amount" in str(info.value)


def test_policy_tool_without_implementation_is_refused(tmp_path: Path, shop_pack_dir: Path) -> None:
    text = (shop_pack_dir / "policy.yaml").read_text() + "  wire_money: {tier: low}\n"
    pack = _pack_with_policy(tmp_path, shop_pack_dir, text)
    with pytest.raises(PolicyError, match=r"tools.wire_money: tool 'wire_money' is not defined"):
        load_pack(pack)


def test_pack_file_errors(tmp_path: Path, shop_pack_dir: Path) -> None:
    pack = _pack_with_policy(tmp_path, shop_pack_dir, (shop_pack_dir / "policy.yaml").read_text())
    (pack / "govcx.yaml").write_text("name: x\nenigne: {kind: embedded}\n")
    with pytest.raises(ConfigError, match=r"govcx.yaml: enigne: unknown key"):
        load_pack(pack)
    (pack / "govcx.yaml").write_text("name: x\nprincipals: {bob: {roles: [approver]}}\n")
    with pytest.raises(ConfigError, match=r"principals.bob.roles.*unknown role 'approver'"):
        load_pack(pack)
    with pytest.raises(ConfigError, match="pack folder not found"):
        load_pack(tmp_path / "missing")


def test_durations() -> None:
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("7d").days == 7
    assert parse_duration(90).total_seconds() == 90


def test_diff_lists_changes() -> None:
    old = policy_from_text(BASE)
    new = policy_from_text(
        BASE.replace('"amount > 50"', '"amount > 100"').replace('version: "1"', 'version: "2"')
    )
    rows = {r["path"]: r for r in diff_policies(old, new)}
    assert rows["tools.issue_refund.approval_if"]["old"] == "amount > 50"
    assert rows["tools.issue_refund.approval_if"]["new"] == "amount > 100"
    assert rows["version"]["change"] == "changed"
    assert diff_policies(old, old) == []


def test_cross_check_is_public_and_names_what_the_tools_lack(shop_pack_dir: Path) -> None:
    """``govcx.pack.cross_check``: the one check of a policy against the pack's tools
    (pack loader, ``policy check``, ``PUT /v1/policy``, the simulator all call it)."""
    from govcx.pack import cross_check

    pack = load_pack(shop_pack_dir)
    cross_check(pack.policy, pack.policy_path, pack.registry)  # the pack's own: fine
    text = (shop_pack_dir / "policy.yaml").read_text() + "  no_such_tool: {tier: low}\n"
    with pytest.raises(PolicyError, match="tool 'no_such_tool' is not defined") as err:
        cross_check(policy_from_text(text, file="p.yaml"), "p.yaml", pack.registry)
    assert (err.value.file, err.value.field) == ("p.yaml", "tools.no_such_tool")
    bad_if = BASE.replace("amount > 50", "amount > 50 and colour == 'red'")
    with pytest.raises(PolicyError) as err:
        cross_check(policy_from_text(bad_if), "x.yaml", pack.registry)
    assert err.value.field == "tools.issue_refund.approval_if"
