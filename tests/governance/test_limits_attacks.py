"""The reproduced attacks on per-call limits, as regression tests: split refunds, ten
concurrent refunds (threads and processes, SQLite and PostgreSQL), foreign currency,
malformed amounts, duplicate writes; through the Python API, the CLI and the HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from govcx.agent.agent import Agent
from tests.conftest import SHOP

ACME = Path(__file__).resolve().parents[2] / "src" / "govcx" / "packs" / "acme"
SRC = Path(__file__).resolve().parents[2] / "src"
LIMITS = """  issue_refund:
    tier: low
    approval_if: "amount > 50"
    amount_arg: amount
    limits:
      - {sum: amount, per: customer, window: 24h, max: 100}
"""


def limited_shop(root: Path) -> Path:
    """The test shop pack with a $100/customer/day refund limit and USD money."""
    pack = root / "shop"
    if not pack.exists():
        shutil.copytree(SHOP, pack)
        text = (pack / "policy.yaml").read_text()
        text = text.replace('  issue_refund: {tier: low, approval_if: "amount > 50"}\n', LIMITS)
        (pack / "policy.yaml").write_text(
            text.replace('version: "t1"', 'version: "t1"\ncurrency: USD')
        )
    return pack


def _executed(turn: Any) -> list[float]:
    return [a.args["amount"] for a in turn.actions if a.status == "executed"]


# -- Python API ------------------------------------------------------------------------------
def test_split_refunds_in_one_conversation_reach_a_human(make_agent: Callable[..., Agent]) -> None:
    """$45 + $45 + $39.99 paid $129.99 without a human: now each step past the first needs
    one (the repeat is a duplicate; after it, the sum crosses $100)."""
    agent = make_agent(ACME)
    first = agent.respond("split", "Please refund $45 for order A-1002", customer_id="C-1001")
    assert first.status == "answered" and _executed(first) == [45.0]
    second = agent.respond("split", "Please refund $45 for order A-1002", customer_id="C-1001")
    assert second.status == "pending_approval"
    assert second.decision is not None
    assert second.decision.rules == ["tool.issue_refund.duplicate"]
    done = agent.decide(str(second.approval_id), principal="dana", decision="approve")
    assert _executed(done) == [45.0]  # a human allowed it: it counts
    third = agent.respond("split", "Please refund $39.99 for order A-1002", customer_id="C-1001")
    assert third.status == "pending_approval" and not _executed(third)
    assert third.decision is not None
    assert "tool.issue_refund.limits[0]" in third.decision.rules


def test_split_refunds_across_conversations_reach_a_human(make_agent: Callable[..., Agent]) -> None:
    agent = make_agent(ACME)
    paid = []
    for i, text in enumerate(
        [
            "Please refund $45 for order A-1002",
            "Please refund $45 for order A-1002",
            "Please refund $39.99 for order A-1002",
        ]
    ):
        turn = agent.respond(f"c{i}", text, customer_id="C-1001")
        paid += _executed(turn)
    assert sum(paid) == 90.0
    assert turn.status == "pending_approval"


def test_three_goodwill_credits_cannot_add_up_without_a_human(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    """Credits of $20 (each under approval_if) stop at the $30/customer/day limit."""
    pack = tmp_path / "acme"
    shutil.copytree(ACME, pack, ignore=shutil.ignore_patterns("evals", "cassettes"))
    policy = (pack / "policy.yaml").read_text()
    (pack / "policy.yaml").write_text(
        policy.replace("  complaint:\n    autonomy: draft", "  complaint:\n    autonomy: act")
    )
    agent = make_agent(pack)
    paid: list[float] = []
    statuses = []
    for i in range(3):
        turn = agent.respond(
            f"g{i}", "I'd like a $20 goodwill credit for the inconvenience", customer_id="C-1001"
        )
        paid += _executed(turn)
        statuses.append(turn.status)
    assert paid == [20.0] and statuses[1:] == ["pending_approval", "pending_approval"]


@pytest.mark.parametrize(
    "text",
    [
        "Please refund £49 for order A-1002",
        "Please refund 49 EUR for order A-1002",
        "Please refund €49 for order A-1002",
        "Please refund $1e308 for order A-1002",
        "Please refund $-45 for order A-1002",
        "Please refund $12.345 for order A-1002",
    ],
)
def test_amounts_that_are_not_plain_dollars_never_run(
    make_agent: Callable[..., Agent], text: str
) -> None:
    agent = make_agent(ACME)
    turn = agent.respond("money", text, customer_id="C-1001")
    assert turn.status == "answered" and not turn.actions
    assert turn.decision is not None and turn.decision.rules == ["slot.invalid"]
    assert turn.reply is not None and "amount again" in turn.reply.text
    # The answer to the question continues the request, in dollars.
    again = agent.respond("money", "$20", customer_id="C-1001")
    assert _executed(again) == [20.0]


def test_a_zero_width_character_inside_an_amount_reads_as_the_amount(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(ACME)
    turn = agent.respond("zw", "Please refund $4\u200b5 for order A-1002", customer_id="C-1001")
    assert _executed(turn) == [45.0]
    # A-1004 is the customer's own order (A-1005 is not: its refund could never succeed,
    # so it would not reach an approver at all).
    turn = agent.respond("zw2", "Please refund $1\u200b00 for order A-1004", customer_id="C-1001")
    assert not _executed(turn) and turn.status == "pending_approval"  # $100 > $50


# -- concurrency -----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_ten_concurrent_refunds_in_threads_pay_at_most_the_limit(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent(limited_shop(tmp_path))

    def ask(i: int) -> Any:
        return agent.respond(f"t{i}", "please refund $45 for order A-1003", customer_id="C-2")

    with ThreadPoolExecutor(max_workers=10) as pool:
        turns = list(pool.map(ask, range(10)))
    paid = [a for t in turns for a in _executed(t)]
    assert paid == [45.0, 45.0]
    assert sorted(t.status for t in turns) == ["answered"] * 2 + ["pending_approval"] * 8
    effects = [
        json.loads(line)
        for line in (agent.state_dir / "packs" / "shop" / "effects.jsonl").read_text().splitlines()
    ]
    assert sum(e["amount"] for e in effects) == 90.0


_WORKER = textwrap.dedent("""
    import json, sys
    from govcx.agent.agent import Agent
    from govcx.pack import load_pack
    from govcx.settings import Settings
    from govcx.testing import InMemoryRetriever, PassThroughGuard
    pack, home, url, name = sys.argv[1:5]
    agent = Agent(load_pack(pack), Settings(home=home, database_url=url or None),
                  retriever=InMemoryRetriever([]), guard=PassThroughGuard())
    out = []
    for i in range(5):
        turn = agent.respond(f"{name}-{i}", "please refund $45 for order A-1003",
                             customer_id="C-2")
        out.append([turn.status, [a.args.get("amount") for a in turn.actions
                                  if a.status == "executed"]])
    agent.close()
    print(json.dumps(out))
""")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_ten_concurrent_refunds_in_two_processes_pay_at_most_the_limit(
    tmp_path: Path, database_url: str | None
) -> None:
    pack = limited_shop(tmp_path)
    home = tmp_path / "home"
    # Prepare the schema once first: two processes setting up LangGraph's PostgreSQL
    # checkpointer at the same moment race in its CREATE TYPE (not govcx's tables).
    from govcx.pack import load_pack
    from govcx.settings import Settings
    from govcx.testing import InMemoryRetriever, PassThroughGuard

    Agent(
        load_pack(pack),
        Settings(home=home, database_url=database_url),
        retriever=InMemoryRetriever([]),
        guard=PassThroughGuard(),
    ).close()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("GOVCX_HOME", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(pack), str(home), database_url or "", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results += json.loads(out.strip().splitlines()[-1])
    paid = [amount for _, amounts in results for amount in amounts]
    assert paid == [45.0, 45.0]
    assert sorted(status for status, _ in results) == ["answered"] * 2 + ["pending_approval"] * 8


# -- CLI and HTTP API ------------------------------------------------------------------------
def test_cli_ask_split_refunds_and_foreign_currency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from govcx.cli.main import app

    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    pack = str(limited_shop(tmp_path))

    def ask(text: str, conversation: str) -> dict[str, Any]:
        result = runner.invoke(
            app,
            [
                "ask",
                text,
                "--customer",
                "C-2",
                "--pack",
                pack,
                "--conversation",
                conversation,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.output)
        return data

    assert ask("please refund $45 for order A-1003", "a")["status"] == "answered"
    assert ask("please refund $45 for order A-1003", "b")["status"] == "answered"
    third = ask("please refund $39.99 for order A-1003", "c")
    assert third["status"] == "pending_approval"
    assert "tool.issue_refund.limits[0]" in third["decision"]["rules"]
    pounds = ask("please refund £49 for order A-1003", "d")
    assert pounds["status"] == "answered" and pounds["actions"] == []
    assert pounds["decision"]["rules"] == ["slot.invalid"]


def test_http_api_split_refunds_reach_a_human(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from govcx.api import create_app
    from tests.api.conftest import auth

    agent = make_agent(limited_shop(tmp_path))
    settings = pytest.importorskip("govcx.api").ServerSettings(
        home=tmp_path / "home", api_keys="key-web-0000000000000000:web", expiry_interval=0
    )
    with TestClient(create_app(settings, agent)) as client:

        def say(cid: str, text: str) -> dict[str, Any]:
            response = client.post(
                f"/v1/conversations/{cid}/messages",
                json={"text": text, "customer_id": "C-2"},
                headers=auth("web"),
            )
            assert response.status_code == 200, response.text
            data: dict[str, Any] = response.json()
            return data

        assert say("h1", "please refund $45 for order A-1003")["status"] == "answered"
        assert say("h2", "please refund $45 for order A-1003")["status"] == "answered"
        third = say("h3", "please refund $39.99 for order A-1003")
        assert third["status"] == "pending_approval"
        assert "tool.issue_refund.limits[0]" in third["decision"]["rules"]
        euros = say("h4", "please refund 49 EUR for order A-1003")
        assert euros["decision"]["rules"] == ["slot.invalid"] and euros["actions"] == []
