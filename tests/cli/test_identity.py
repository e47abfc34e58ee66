"""Authenticated decisions in the CLI: the principal is the key's; ``--as`` is a dev-mode
convenience, recorded as unauthenticated; one person never counts twice toward four-eyes.

Each test reproduces an attack that worked before keys existed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from govcx.cli.main import app
from tests.conftest import SHOP

runner = CliRunner()
PACK = ["--pack", str(SHOP)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    for name in ("GOVCX_DEV", "GOVCX_API_KEY", "GOVCX_API_KEYS", "GOVCX_PACK"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, key: str | None = None, dev: bool = False, stdin: str | None = None) -> Result:
    env = {"GOVCX_API_KEY": key or "", "GOVCX_DEV": "1" if dev else "0"}
    result = runner.invoke(app, [*args], env=env, input=stdin)
    assert "Traceback" not in result.output
    return result


def key_of(name: str) -> str:
    result = run("keys", "create", name, *PACK, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"key_id", "principal", "key"}
    return str(data["key"])


def ask(text: str) -> dict[str, Any]:
    result = run("ask", text, "--customer", "C-1", *PACK, "--json")
    assert result.exit_code == 0, result.output
    turn: dict[str, Any] = json.loads(result.stdout)
    return turn


def status(aid: str) -> str:
    result = run("approvals", "show", aid, *PACK, "--json")
    return str(json.loads(result.stdout)["status"])


def effects(tmp_path: Path) -> list[str]:
    path = tmp_path / "home" / "packs" / "shop" / "effects.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["tool"] for line in path.read_text().splitlines() if line]


def test_as_outside_dev_mode_is_refused_with_how_to_make_a_key() -> None:
    aid = ask("please refund $80 for order A-1002")["approval_id"]
    for command in (["approve", aid], ["reject", aid], ["edit", aid, "--args", '{"amount": 5}']):
        result = run("approvals", *command, "--as", "sup", *PACK)
        assert result.exit_code == 2, result.output
        assert "only in dev mode" in result.output
        assert "govcx keys create sup" in result.output
        assert "export GOVCX_API_KEY=" in result.output
    assert status(aid) == "pending"


def test_one_person_cannot_close_an_account_as_two_managers(tmp_path: Path) -> None:
    """The reported attack: `--as lee` then `--as sam` (here boss, boss2) outside dev mode."""
    aid = ask("close my account")["approval_id"]
    assert run("approvals", "approve", aid, "--as", "boss", *PACK).exit_code == 2
    assert run("approvals", "approve", aid, "--as", "boss2", *PACK).exit_code == 2
    assert status(aid) == "pending" and effects(tmp_path) == []


def test_the_same_key_twice_is_a_duplicate_approver(tmp_path: Path) -> None:
    aid = ask("close my account")["approval_id"]
    boss = key_of("boss")
    assert run("approvals", "approve", aid, *PACK, key=boss).exit_code == 0
    again = run("approvals", "approve", aid, *PACK, key=boss)
    assert again.exit_code == 1 and "already approved" in again.output
    # naming the other manager does not help: the key says who decides
    other = run("approvals", "approve", aid, "--as", "boss2", *PACK, key=boss)
    assert other.exit_code == 2 and "your API key is boss's" in other.output
    assert status(aid) == "pending" and effects(tmp_path) == []
    done = run("approvals", "approve", aid, *PACK, "--json", key=key_of("boss2"))
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "answered"
    assert effects(tmp_path) == ["close_account"]


def test_a_channel_key_cannot_decide() -> None:
    aid = ask("please refund $80 for order A-1002")["approval_id"]
    result = run("approvals", "approve", aid, *PACK, key=key_of("web"))
    assert result.exit_code == 1 and "channel principals can never decide" in result.output
    assert status(aid) == "pending"


def test_unknown_malformed_and_revoked_keys_exit_2(tmp_path: Path) -> None:
    aid = ask("please refund $80 for order A-1002")["approval_id"]
    sup = key_of("sup")
    key_id = sup.split("_")[1]
    for bad, why in (
        ("gcx_0123456789ab_" + "x" * 43, "unknown API key"),
        ("hunter2", "malformed"),
        (sup[:-3] + "zzz", "unknown API key"),
    ):
        result = run("approvals", "approve", aid, *PACK, key=bad)
        assert result.exit_code == 2 and why in result.output, result.output
    revoked = run("keys", "revoke", key_id, *PACK)
    assert revoked.exit_code == 0 and key_id in revoked.output
    result = run("approvals", "approve", aid, *PACK, key=sup)
    assert result.exit_code == 2 and "revoked" in result.output
    assert status(aid) == "pending"
    listed = run("keys", "list", *PACK, "--json")
    [row] = json.loads(listed.stdout)
    assert row["key_id"] == key_id and row["active"] is False and sup not in listed.output
    assert run("keys", "revoke", "0123456789ab", *PACK).exit_code == 2


def test_key_file_authenticates(tmp_path: Path) -> None:
    aid = ask("please refund $80 for order A-1002")["approval_id"]
    key_file = tmp_path / "sup.key"
    key_file.write_text("# sup's key\n" + key_of("sup") + "\n")
    result = run("approvals", "approve", aid, "--key-file", str(key_file), *PACK, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["actions"][0]["status"] == "executed"
    missing = run("approvals", "approve", aid, "--key-file", str(tmp_path / "nope"), *PACK)
    assert missing.exit_code == 2 and "cannot read the key file" in missing.output
    (tmp_path / "empty").write_text("\n# nothing\n")
    empty = run("approvals", "approve", aid, "--key-file", str(tmp_path / "empty"), *PACK)
    assert empty.exit_code == 2 and "holds no key" in empty.output


def test_keys_create_checks_the_principal_canonically() -> None:
    result = run("keys", "create", " Sup ", *PACK, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["principal"] == "sup"
    unknown = run("keys", "create", "dana", *PACK)
    assert unknown.exit_code == 2 and "unknown principal 'dana'" in unknown.output
    text = run("keys", "create", "boss", *PACK)
    assert text.exit_code == 0 and "shown once" in text.output
    assert "gcx_" in text.stdout


def test_keys_create_out_writes_a_private_file_once(tmp_path: Path) -> None:
    target = tmp_path / "sup.key"
    result = run("keys", "create", "sup", "--out", str(target), *PACK)
    assert result.exit_code == 0 and "gcx_" not in result.output
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text().startswith("gcx_")
    again = run("keys", "create", "sup", "--out", str(target), *PACK)
    assert again.exit_code == 2 and "already exists" in again.output


def test_dev_mode_decisions_are_flagged_unauthenticated_and_never_count_twice(
    tmp_path: Path,
) -> None:
    aid = ask("close my account")["approval_id"]
    first = run("approvals", "approve", aid, "--as", "boss", *PACK, dev=True)
    assert first.exit_code == 0 and "unauthenticated" in first.stderr
    # the same person spelled differently is still one person, in dev mode too
    for spelling in ("BOSS", " boss "):
        again = run("approvals", "approve", aid, "--as", spelling, *PACK, dev=True)
        assert again.exit_code == 1 and "already approved" in again.output
    assert status(aid) == "pending" and effects(tmp_path) == []
    shown = json.loads(run("approvals", "show", aid, *PACK, "--json").stdout)
    assert [(d["principal"], d["authenticated"]) for d in shown["decisions"]] == [("boss", False)]
    cid = shown["conversation_id"]
    export = run("audit", "export", "--conversation", cid, *PACK)
    [event] = [
        json.loads(line)
        for line in export.stdout.splitlines()
        if json.loads(line)["kind"] == "approval.approve"
    ]
    assert event["actor"] == "boss" and event["data"]["authenticated"] is False
    # a key in dev mode is still a key: authenticated, and the principal is the key's
    done = run("approvals", "approve", aid, *PACK, dev=True, key=key_of("boss2"))
    assert done.exit_code == 0 and "unauthenticated" not in done.stderr
    shown = json.loads(run("approvals", "show", aid, *PACK, "--json").stdout)
    assert [(d["principal"], d["authenticated"]) for d in shown["decisions"]] == [
        ("boss", False),
        ("boss2", True),
    ]


def test_chat_approve_needs_a_key_outside_dev_mode(tmp_path: Path) -> None:
    """The reported attack: the person in the chat approves their own request."""
    lines = "please refund $80 for order A-1002\n/approve\n/approve sup\n/quit\n"
    result = run("chat", "--customer", "C-1", *PACK, stdin=lines)
    assert result.exit_code == 0, result.output
    assert "approval needed" in result.output
    assert "deciding needs an API key" in result.output
    assert "only in dev mode" in result.output
    # The request shows what the customer would be told ("I've refunded..."); nothing ran.
    assert "→ executed" not in result.output and effects(tmp_path) == []
    # --as at start-up is no better
    result = run("chat", "--customer", "C-1", "--as", "sup", *PACK, stdin=lines)
    assert "→ executed" not in result.output and effects(tmp_path) == []


def test_chat_with_a_key_decides_as_the_key_and_rechecks_it(tmp_path: Path) -> None:
    sup = key_of("sup")
    lines = "please refund $80 for order A-1002\n/approve boss\n/approve\n/quit\n"
    result = run("chat", "--customer", "C-1", *PACK, key=sup, stdin=lines)
    assert result.exit_code == 0, result.output
    assert "as sup (API key)" in result.output
    assert "your API key is sup's" in result.output  # /approve boss refused
    assert "refunded $80.00" in result.output and effects(tmp_path) == ["issue_refund"]
    run("keys", "revoke", sup.split("_")[1], *PACK)
    bad = run("chat", "--customer", "C-1", *PACK, key=sup, stdin="/quit\n")
    assert bad.exit_code == 2 and "revoked" in bad.output


def test_chat_in_dev_mode_decides_by_name_flagged() -> None:
    lines = "please refund $80 for order A-1002\n/approve sup\n/quit\n"
    result = run("chat", "--customer", "C-1", *PACK, dev=True, stdin=lines)
    assert result.exit_code == 0, result.output
    assert "dev mode: unauthenticated" in result.output
    assert "refunded $80.00" in result.output
    listed = json.loads(run("approvals", "list", "--status", "approved", *PACK, "--json").stdout)
    assert listed[0]["decisions"][0]["authenticated"] is False


def test_key_creation_and_revocation_are_audited_without_the_key() -> None:
    sup = key_of("sup")
    key_id = sup.split("_")[1]
    assert run("keys", "revoke", key_id, *PACK).exit_code == 0
    exported = run("audit", "export", *PACK)
    assert exported.exit_code == 0, exported.output
    events = [json.loads(line) for line in exported.stdout.splitlines() if line]
    keyed = [(e["kind"], e["data"]) for e in events if e["kind"].startswith("key.")]
    assert keyed == [
        ("key.created", {"key_id": key_id, "principal": "sup"}),
        ("key.revoked", {"key_id": key_id, "principal": "sup"}),
    ]
    assert sup.split("_", 2)[2] not in exported.stdout
    assert run("audit", "verify", *PACK).exit_code == 0
