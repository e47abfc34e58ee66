"""Crash safety with real processes killed by SIGKILL, then recovered.

1. The process dies after the tool's external effect but before anything is recorded:
   recovery calls the tool again with the same idempotency key, the tool drops the
   duplicate, and there is exactly one effect.
2. The process dies after the ledger recorded success but before the checkpoint: the
   step is replayed from the ledger and the tool (which does not dedupe) is not called.
3. Nobody runs `recover`: the customer's next message on the conversation first finishes
   the interrupted run (its step according to the ledger, its Turn and transcript), then
   runs as a turn of its own.
4. The process dies right after an escalation opened its case: recovery finishes the turn
   with that one case, and the conversation stays with the people.
5. The process dies while recording a self-harm message sent as an approval waits (its
   case, transcript, audit events and Turn share one transaction): nothing of it is left,
   the message sent again opens exactly one case, and the approval still runs once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import SHOP
from tests.crash import crash_database, run_script

RUNNER = textwrap.dedent("""
    import os, signal, sys, json
    from pathlib import Path
    from govcx.agent.agent import Agent
    from govcx.pack import load_pack
    from govcx.settings import Settings
    from govcx.engines.embedded import EmbeddedEngine
    from govcx.knowledge.retriever import Chunk
    from govcx.testing import InMemoryRetriever, PassThroughGuard

    pack_dir, home, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    database_url = os.environ.get("CRASH_DATABASE_URL") or None
    pack = load_pack(pack_dir)
    engine = EmbeddedEngine.from_policy(pack.policy)
    marker = Path(home) / "kill-in-compose"

    class KillingEngine:
        name = "embedded"
        def __getattr__(self, name):
            return getattr(engine, name)
        def compose(self, *args, **kwargs):
            if marker.exists():
                marker.unlink()
                os.kill(os.getpid(), signal.SIGKILL)
            return engine.compose(*args, **kwargs)

    import govcx.graphs.nodes as nodes
    opened = nodes._open_case
    case_marker = Path(home) / "kill-after-case"

    def open_then_die(*args, **kwargs):
        result = opened(*args, **kwargs)  # committed: the case and the control change
        if case_marker.exists():
            case_marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    nodes._open_case = open_then_die
    stored = nodes.at_rest
    commit_marker = Path(home) / "kill-before-commit"

    def die_before_commit(*args, **kwargs):
        if commit_marker.exists():  # inside the transaction that records the turn
            commit_marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return stored(*args, **kwargs)

    nodes.at_rest = die_before_commit

    class SelfHarmGuard(PassThroughGuard):
        # Flags self-harm where the real guard would (enough for these runs).
        def scan_input(self, text):
            from govcx.governance.finding import Finding
            from govcx.guardrails.guard import ScanResult
            if "end my life" in text:
                found = Finding(type="SELF_HARM", start=0, end=len(text), score=0.9)
                return ScanResult(findings=[found], redacted=text)
            return super().scan_input(text)

    agent = Agent(pack, Settings(home=Path(home), database_url=database_url),
                  engine=KillingEngine(),
                  retriever=InMemoryRetriever([]), guard=SelfHarmGuard())
    if mode == "ask":
        turn = agent.respond("crash-1", sys.argv[4], customer_id="C-1")
        print(json.dumps(turn.model_dump(mode="json")))
    elif mode == "approve":
        pending = agent.approvals.list(status="pending")
        turn = agent.decide(pending[0].approval_id, principal="sup", decision="approve")
        print(json.dumps(turn.model_dump(mode="json")))
    elif mode == "ask-again":  # a new message on the same conversation, no `recover` first
        turn = agent.respond("crash-1", sys.argv[4], customer_id="C-1")
        conversation = agent.conversation("crash-1")
        print(json.dumps({"turn": turn.model_dump(mode="json"),
                          "turns": conversation["turns"],
                          "transcript": conversation["transcript"],
                          "ledger": [{"status": r["status"], "tool": r["tool"]}
                                     for r in conversation["actions"]]}))
    elif mode == "cases":
        print(json.dumps({"cases": [c.as_dict() for c in agent.cases.list()],
                          "control": agent.conversations.get("crash-1")["control"],
                          "audit_ok": agent.audit.verify().ok}))
    elif mode == "recover":
        print(json.dumps([t.model_dump(mode="json") for t in agent.recover()]))
""")


def _pack(tmp_path: Path, *, kill_after_effect: bool, dedupe: bool) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(SHOP, pack)
    tools = (pack / "tools.py").read_text()
    if kill_after_effect:
        tools = tools.replace(
            "    return _record(\n"
            '        data_dir, idempotency_key, {"tool": "issue_refund", "order_id": order_id, '
            '"amount": amount}\n'
            "    )",
            """    result = _record(
        data_dir, idempotency_key, {"tool": "issue_refund", "order_id": order_id, "amount": amount}
    )
    marker = data_dir / "kill-after-effect"
    if marker.exists():
        import os, signal
        marker.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return result""",
        )
        assert "kill-after-effect" in tools
    if not dedupe:
        tools = tools.replace(
            """    for seen in effects(data_dir):
        if seen["key"] == key:
            result: dict[str, Any] = seen["result"]
            return result
""",
            "",
        )
        assert "for seen in effects" not in tools
    (pack / "tools.py").write_text(tools)
    return pack


pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


_database = pytest.fixture(autouse=True)(crash_database)


def _run(pack: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(RUNNER, pack, home, *args)


def _effects(home: Path) -> list[dict[str, object]]:
    path = home / "packs" / "shop" / "effects.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x] if path.exists() else []


def test_kill_between_effect_and_checkpoint_then_recover(tmp_path: Path) -> None:
    pack = _pack(tmp_path, kill_after_effect=True, dedupe=True)
    home = tmp_path / "home"
    (home / "packs" / "shop").mkdir(parents=True)
    (home / "packs" / "shop" / "kill-after-effect").touch()
    crashed = _run(pack, home, "ask", "please refund $20 for order A-1001")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(_effects(home)) == 1  # the effect happened; nothing after it did
    recovered = _run(pack, home, "recover")
    assert recovered.returncode == 0, recovered.stderr
    turns = json.loads(recovered.stdout)
    assert [t["status"] for t in turns] == ["answered"]
    assert turns[0]["actions"][0]["status"] == "executed"
    assert len(_effects(home)) == 1  # retried with the same key, deduplicated downstream
    again = _run(pack, home, "recover")
    assert json.loads(again.stdout) == []


def test_kill_after_ledger_success_replays_without_calling(tmp_path: Path) -> None:
    pack = _pack(tmp_path, kill_after_effect=False, dedupe=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "kill-in-compose").touch()
    crashed = _run(pack, home, "ask", "please refund $20 for order A-1001")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(_effects(home)) == 1
    recovered = _run(pack, home, "recover")
    assert recovered.returncode == 0, recovered.stderr
    turns = json.loads(recovered.stdout)
    assert turns[0]["status"] == "answered"
    assert len(_effects(home)) == 1  # the ledger made the retried step a no-op


def test_kill_during_approved_execution_then_recover(tmp_path: Path) -> None:
    pack = _pack(tmp_path, kill_after_effect=True, dedupe=True)
    home = tmp_path / "home"
    first = _run(pack, home, "ask", "please refund $80 for order A-1002")
    assert json.loads(first.stdout)["status"] == "pending_approval", first.stderr
    (home / "packs" / "shop" / "kill-after-effect").touch()
    crashed = _run(pack, home, "approve")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    recovered = _run(pack, home, "recover")
    turns = json.loads(recovered.stdout)
    assert turns[0]["status"] == "answered", recovered.stderr
    assert turns[0]["actions"][0]["args"]["amount"] == 80.0
    assert len(_effects(home)) == 1


@pytest.mark.parametrize("dedupe", [True, False])
def test_a_new_message_recovers_the_interrupted_run_first(tmp_path: Path, dedupe: bool) -> None:
    pack = _pack(tmp_path, kill_after_effect=dedupe, dedupe=dedupe)
    home = tmp_path / "home"
    (home / "packs" / "shop").mkdir(parents=True)
    # dedupe: killed after the effect, before the ledger; else after the ledger's success.
    (home / "packs" / "shop" / "kill-after-effect").touch()
    (home / "kill-in-compose").touch()
    crashed = _run(pack, home, "ask", "please refund $20 for order A-1001")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(_effects(home)) == 1
    (home / "kill-in-compose").unlink(missing_ok=True)
    again = _run(pack, home, "ask-again", "where is my order A-1001?")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    first, second = out["turns"]
    assert first["status"] == "answered"
    assert first["actions"] == [
        {**first["actions"][0], "tool": "issue_refund", "status": "executed"}
    ]
    assert second["turn_id"] == out["turn"]["turn_id"]
    assert all(a["tool"] != "issue_refund" for a in second["actions"])
    # The interrupted turn is complete in the transcript before the new message.
    roles = [(m["turn_id"], m["role"]) for m in out["transcript"]]
    assert roles[:2] == [(first["turn_id"], "customer"), (first["turn_id"], "assistant")]
    assert roles[2][0] == second["turn_id"]
    assert [r["status"] for r in out["ledger"] if r["tool"] == "issue_refund"] == ["succeeded"]
    assert len(_effects(home)) == 1  # exactly one refund


def test_the_resent_message_after_a_crash_does_not_pay_twice(tmp_path: Path) -> None:
    """The reproduced attack: kill -9 after the refund's effect, the customer resends the
    same message to a restarted process: it used to run as a new turn, a second refund."""
    pack = _pack(tmp_path, kill_after_effect=True, dedupe=True)
    home = tmp_path / "home"
    (home / "packs" / "shop").mkdir(parents=True)
    (home / "packs" / "shop" / "kill-after-effect").touch()
    text = "please refund $20 for order A-1001"
    crashed = _run(pack, home, "ask", text)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    again = _run(pack, home, "ask-again", text)
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    first, second = out["turns"]
    assert first["actions"][0]["status"] == "executed"  # recovered, not run twice
    assert second["status"] == "pending_approval"  # the same write again: a person decides
    assert "tool.issue_refund.duplicate" in second["decision"]["rules"]
    assert len(_effects(home)) == 1


def test_kill_after_the_case_opened_then_recover(tmp_path: Path) -> None:
    pack = _pack(tmp_path, kill_after_effect=False, dedupe=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "kill-after-case").touch()
    crashed = _run(pack, home, "ask", "I will sue you")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    before = json.loads(_run(pack, home, "cases").stdout)
    assert len(before["cases"]) == 1 and before["control"] == "waiting"
    recovered = _run(pack, home, "recover")
    turns = json.loads(recovered.stdout)
    assert [t["status"] for t in turns] == ["escalated"], recovered.stderr
    case_id = before["cases"][0]["case_id"]
    assert turns[0]["escalation"]["case_id"] == case_id  # the replayed step found its case
    after = json.loads(_run(pack, home, "cases").stdout)
    assert [c["case_id"] for c in after["cases"]] == [case_id]
    assert (after["control"], after["audit_ok"]) == ("waiting", True)
    again = _run(pack, home, "ask-again", "hello?")
    assert json.loads(again.stdout)["turn"]["status"] == "with_human", again.stderr


def test_kill_while_recording_an_escalation_as_an_approval_waits(tmp_path: Path) -> None:
    pack = _pack(tmp_path, kill_after_effect=False, dedupe=True)
    home = tmp_path / "home"
    home.mkdir()
    waiting = json.loads(_run(pack, home, "ask", "please refund $80 for order A-1002").stdout)
    assert waiting["status"] == "pending_approval"
    (home / "kill-before-commit").touch()
    crashed = _run(pack, home, "ask-again", "I just want to end my life")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert not (home / "kill-before-commit").exists()  # it died where the test meant it to
    before = json.loads(_run(pack, home, "cases").stdout)
    assert (before["cases"], before["control"], before["audit_ok"]) == ([], "ai", True)

    again = json.loads(_run(pack, home, "ask-again", "I just want to end my life").stdout)
    turn = again["turn"]
    assert (turn["status"], turn["approval_id"]) == ("escalated", waiting["approval_id"])
    assert "crisis line" in turn["reply"]["text"]
    customer = [m["text"] for m in again["transcript"] if m["role"] == "customer"]
    assert customer.count("I just want to end my life") == 1
    after = json.loads(_run(pack, home, "cases").stdout)
    assert [c["reason"] for c in after["cases"]] == ["escalation trigger: SELF_HARM"]
    assert (after["control"], after["audit_ok"]) == ("waiting", True)
    approved = json.loads(_run(pack, home, "approve").stdout)
    assert approved["status"] == "answered", approved
    assert [e["amount"] for e in _effects(home)] == [80.0]
