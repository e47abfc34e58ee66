"""No PII at rest (issue 13, item 7): planted card numbers, SSNs, CVVs, emails and phones
go through real flows (the HTTP API with a webhook receiver, the CLI, approvals with a
comment, an escalation, a message while an approval waits), then every file under the
state dir is read as raw bytes, and on PostgreSQL every column of every table, and none
of the planted values is there. Also: owner-only file modes, the encrypted checkpointer
(resuming across a restart, old plaintext checkpoints still load, a wrong key fails
loudly) and the detectors' formats."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.sqlite import SqliteSaver
from typer.testing import CliRunner

from govcx.agent.agent import Agent
from govcx.errors import CheckpointUnreadable, ConfigError
from govcx.guardrails import build_guard
from govcx.guardrails.guard import Guard
from govcx.pack import load_pack
from govcx.settings import Settings
from govcx.store.sealed import checkpoint_serde
from tests.api import conftest as api_fixtures
from tests.api.conftest import auth, with_extra_principals
from tests.api.test_webhooks import Receiver, hooked, wait_for
from tests.conftest import SHOP, TEST_DATA_KEY

CARDS = ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111", "4111111111111111")
SSNS = ("123-45-6789", "123 45 6789")
EMAIL = "pat.quinn@example.org"
PHONE = "415-555-2671"
PLANTED_TEXT = (*CARDS, *SSNS, EMAIL, PHONE, "cvv 123", "CVV: 4821")
PLANTED_DIGITS = ("4111111111111111", "123456789", "4155552671")
"""Digits-only variants: a store that normalised the separators away still leaks."""

# The API tests' fixtures, for the API flow below.
api_agent = api_fixtures.api_agent
server_settings = api_fixtures.server_settings
make_app = api_fixtures.make_app

_GUARD: list[Guard] = []


def real_guard() -> Guard:
    if not _GUARD:
        _GUARD.append(build_guard(load_pack(SHOP).policy.guards))
    return _GUARD[0]


def leaks(data: bytes) -> list[str]:
    """The planted values found in ``data`` (text forms case-insensitively)."""
    lowered = data.lower()
    found = [v for v in PLANTED_TEXT if v.lower().encode() in lowered]
    found += [
        v
        for v in PLANTED_DIGITS
        if re.search(rb"(?<![0-9A-Za-z])" + v.encode() + rb"(?![0-9A-Za-z])", data)
    ]
    return found


def scan_files(root: Path) -> dict[str, list[str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            hits = leaks(path.read_bytes())
            if hits:
                out[str(path.relative_to(root))] = hits
    return out


def scan_postgres(url: str) -> dict[str, list[str]]:
    """Every column of every table, bytea as raw bytes, everything else as text."""
    import psycopg

    from govcx.store.postgres import psycopg_dsn

    out: dict[str, list[str]] = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes"} <= set(tables)
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    if value is None:
                        continue
                    raw = (
                        bytes(value)
                        if isinstance(value, bytes | memoryview)
                        else str(value).encode("utf-8")
                    )
                    hits = leaks(raw)
                    if hits:
                        out.setdefault(table, []).extend(hits)
    return out


@pytest.fixture
def guarded_agent(make_agent: Callable[..., Agent]) -> Agent:
    return with_extra_principals(make_agent(guard=real_guard()))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_planted_pii_is_nowhere_at_rest(
    guarded_agent: Agent,
    make_app: Callable[..., FastAPI],
    database_url: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVCX_TEST_HOOK_SECRET", "whsec-test-0123456789")
    receiver = Receiver()
    try:
        app = make_app(agent=hooked(guarded_agent, receiver.url))
        with TestClient(app) as client:
            cid = client.post(
                "/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")
            ).json()["conversation_id"]
            turn = client.post(
                f"/v1/conversations/{cid}/messages",
                json={
                    "text": f"please refund $80 for order A-1002, my card is {CARDS[0]} "
                    f"cvv 123, email {EMAIL}"
                },
                headers=auth("web"),
            ).json()
            assert turn["status"] == "pending_approval", turn
            while_pending = client.post(
                f"/v1/conversations/{cid}/messages",
                json={"text": f"also my SSN is {SSNS[0]} and card {CARDS[2]}"},
                headers=auth("web"),
            ).json()
            assert while_pending["status"] == "pending_approval"
            decided = client.post(
                f"/v1/approvals/{turn['approval_id']}/decision",
                json={
                    "decision": "approve",
                    "comment": f"verified card {CARDS[1]} CVV: 4821, called {PHONE}",
                },
                headers=auth("sup"),
            )
            assert decided.status_code == 200, decided.text
            escalated = client.post(
                "/v1/conversations/c-law/messages",
                json={
                    "text": f"I will sue you. SSN {SSNS[1]}, card {CARDS[3]}, phone {PHONE}",
                    "customer_id": "C-1",
                },
                headers=auth("web"),
            ).json()
            assert escalated["status"] == "escalated", escalated
            wait_for(lambda: len(receiver.requests) >= 3)
            stored = client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()
    finally:
        receiver.close()
    for request in receiver.requests:  # what govcx sent
        assert leaks(request["body"]) == [], request["body"]
    assert "<CREDIT_CARD>" in str(stored["transcript"])

    # The CLI, in this process, on the same state dir and database.
    from govcx.cli.main import app as cli

    monkeypatch.setenv("GOVCX_HOME", str(guarded_agent.state_dir))
    if database_url:
        monkeypatch.setenv("GOVCX_DATABASE_URL", database_url)
    runner = CliRunner()
    asked = runner.invoke(
        cli,
        [
            "ask",
            f"please refund $80 for order A-1002, card {CARDS[2]} security code 123, ssn {SSNS[0]}",
            "--conversation",
            "c-cli",
            "--customer",
            "C-1",
            "--pack",
            str(SHOP),
            "--json",
        ],
    )
    assert asked.exit_code == 0, asked.output
    approval_id = re.search(r'"approval_id": "([^"]+)"', asked.output)
    assert approval_id, asked.output
    issued = runner.invoke(cli, ["keys", "create", "sup", "--json", "--pack", str(SHOP)])
    assert issued.exit_code == 0, issued.output
    key = json.loads(issued.output)["key"]
    approved = runner.invoke(
        cli,
        [
            "approvals",
            "approve",
            approval_id.group(1),
            "--comment",
            f"card {CARDS[0]} ok, {EMAIL}",
            "--pack",
            str(SHOP),
        ],
        env={"GOVCX_API_KEY": key},
    )
    assert approved.exit_code == 0, approved.output
    guarded_agent.close()

    assert scan_files(guarded_agent.state_dir) == {}
    if database_url:
        assert scan_postgres(database_url) == {}


def _modes(root: Path) -> dict[str, str]:
    """Paths under ``root`` (and root) with any group or other permission bit."""
    bad = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077 and not path.is_symlink():
            bad[str(path.relative_to(root))] = oct(mode)
    return bad


def test_state_files_are_owner_only_from_the_cli(tmp_path: Path) -> None:
    """The real entry point, with the acme pack (Chroma index, pack store, SQLite)."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "GOVCX_HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    env.pop("GOVCX_DATA_KEY", None)  # the default: data.key created in the state dir
    old = os.umask(0o022)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from govcx.cli.main import main; main()",
                "ask",
                "please refund $80 for order A-1002",
                "--customer",
                "C-1001",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert (home / "data.key").exists() and (home / "checkpoints.db").exists()
    assert any(home.glob("chroma*")) or any(home.rglob("*.sqlite3"))
    assert _modes(home) == {}


def test_library_creates_owner_only_files_without_a_umask(
    make_agent: Callable[..., Agent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the CLI's umask (a process that imports govcx), what govcx creates is still
    0600/0700, and a state dir that exists world-readable is tightened."""
    monkeypatch.delenv("GOVCX_DATA_KEY")
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    old = os.umask(0o022)
    try:
        agent = make_agent(guard=real_guard())
        agent.respond("c1", "please refund $80 for order A-1002", customer_id="C-1")
        agent.close()
    finally:
        os.umask(old)
    assert (home / "data.key").exists()
    bad = {p: m for p, m in _modes(home).items() if not p.startswith("packs/shop/")}
    assert bad == {}
    assert stat.S_IMODE((home / "packs" / "shop").stat().st_mode) == 0o700


# -- the encrypted checkpointer ---------------------------------------------------------


def test_conversation_resumes_after_approval_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVCX_DATA_KEY")
    settings = Settings(home=tmp_path / "home")
    message = "please refund $80 for order A-1002, card 4111.1111.1111.1111"
    first = Agent(load_pack(SHOP), settings, guard=real_guard())
    turn = first.respond("c1", message, customer_id="C-1")
    assert turn.status == "pending_approval"
    first.close()

    raw = (tmp_path / "home" / "checkpoints.db").read_bytes()
    wal = tmp_path / "home" / "checkpoints.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"A-1002" not in raw and b"refund" not in raw and b"4111" not in raw

    second = Agent(load_pack(SHOP), settings, guard=real_guard())  # a new process's Agent
    try:
        resumed = second.decide(str(turn.approval_id), principal="sup", decision="approve")
        assert resumed.status == "answered"
        assert [a.status for a in resumed.actions] == ["executed"]
        state = second.graph.get_state(second._config("c1")).values
        assert state["text"] == message  # the engine's raw text, decrypted
    finally:
        second.close()


def test_unencrypted_checkpoints_still_load(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "c.db"), check_same_thread=False)
    plain = SqliteSaver(conn)
    plain.setup()
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    checkpoint: Any = {
        "v": 1,
        "id": "1ef4f797-8335-6428-8001-8a1503f9b875",
        "ts": "x",
        "channel_values": {"text": "hello"},
        "channel_versions": {"text": 1},
        "versions_seen": {},
        "pending_sends": [],
    }
    plain.put(config, checkpoint, {"source": "input", "step": 1}, {"text": 1})
    sealed = SqliteSaver(conn, serde=checkpoint_serde(bytes.fromhex(TEST_DATA_KEY)))
    loaded = sealed.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})
    assert loaded is not None and loaded.checkpoint["channel_values"]["text"] == "hello"


def test_a_wrong_data_key_fails_loudly() -> None:
    typ, data = checkpoint_serde(b"k" * 32).dumps_typed({"text": "card 4111111111111111"})
    assert typ.endswith("+aesgcm") and b"4111" not in data
    with pytest.raises(CheckpointUnreadable, match="GOVCX_DATA_KEY"):
        checkpoint_serde(b"j" * 32).loads_typed((typ, data))
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(CheckpointUnreadable):
        checkpoint_serde(b"k" * 32).loads_typed((typ, tampered))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgres_without_a_data_key_is_refused_outside_dev_mode(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVCX_DATA_KEY")
    with pytest.raises(ConfigError, match="GOVCX_DATA_KEY_FILE"):
        Agent(load_pack(SHOP), Settings(home=tmp_path / "home", database_url=database_url))
    assert not (tmp_path / "home" / "data.key").exists()
    dev = Agent(
        load_pack(SHOP), Settings(home=tmp_path / "home", database_url=database_url, dev=True)
    )
    dev.close()
    assert stat.S_IMODE((tmp_path / "home" / "data.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgres_checkpoints_hold_no_plaintext_strings(
    make_agent: Callable[..., Agent], database_url: str
) -> None:
    """PostgresSaver inlines string channel values in clear JSONB; ours seals them."""
    agent = make_agent(guard=real_guard())
    turn = agent.respond("c1", "please refund $80 for order A-1002", customer_id="C-1")
    agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    import psycopg

    from govcx.store.postgres import psycopg_dsn

    with psycopg.connect(psycopg_dsn(database_url)) as conn:
        inline = [r[0] for r in conn.execute("SELECT checkpoint::text FROM checkpoints")]
    assert inline and not any("A-1002" in c or "refund $80" in c for c in inline)
    assert agent.graph.get_state(agent._config("c1")).values["text"].startswith("please")


# -- approval comments ------------------------------------------------------------------


def test_an_approvers_comment_is_redacted_in_the_approval_and_the_audit(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(guard=real_guard())
    turn = agent.respond("c1", "please refund $80 for order A-1002", customer_id="C-1")
    agent.decide(
        str(turn.approval_id),
        principal="sup",
        decision="approve",
        comment="card 4111.1111.1111.1111 cvv 123 checked, SSN 123 45 6789",
    )
    decision = agent.approvals.get(str(turn.approval_id)).decisions[-1]
    assert decision.comment == "card <CREDIT_CARD> cvv <CARD_CVV> checked, SSN <US_SSN>"
    events = [e.as_dict() for e in agent.audit.events() if e.kind == "approval.approve"]
    assert events[0]["data"]["comment"] == decision.comment


# -- detectors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("my card is 4111 1111 1111 1111", "CREDIT_CARD"),
        ("card 4111-1111-1111-1111", "CREDIT_CARD"),
        ("4111.1111.1111.1111", "CREDIT_CARD"),
        ("4111111111111111", "CREDIT_CARD"),
        ("amex 3782 822463 10005", "CREDIT_CARD"),
        ("visa 4111 1111 1111 1112 (mistyped, labelled)", "CREDIT_CARD"),
        ("SSN 123-45-6789", "US_SSN"),
        ("ssn 123 45 6789", "US_SSN"),
        ("SSN 123456789", "US_SSN"),
        ("social security number 078-05-1120", "US_SSN"),
        ("it is 219-09-9999", "US_SSN"),
        ("cvv 123", "CARD_CVV"),
        ("CVV: 1234", "CARD_CVV"),
        ("security code 123", "CARD_CVV"),
        ("cvc 123", "CARD_CVV"),
        ("cvv2 is 987", "CARD_CVV"),
        ("mail pat.quinn@example.org", "EMAIL_ADDRESS"),
        ("call 415-555-2671", "PHONE_NUMBER"),
        ("call (212) 555-0187", "PHONE_NUMBER"),
    ],
)
def test_each_format_is_redacted(text: str, entity: str) -> None:
    redacted = real_guard().redact(text)
    assert f"<{entity}>" in redacted, redacted
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 3:
        assert not re.search(r"\d{3}", redacted), redacted


@pytest.mark.parametrize(
    "text",
    [
        "please refund $80 for order A-1002",
        "refund $45.00 and $39.99 on A-1002 and A-1003",
        "ordered on 2024-05-01, delivered 12/05/2024",
        "I paid $1,234.56 on 1/2/2025",
        "order A-1002 placed 2024-12-01 for $120.00",
        "my code is 123456",
        "version 1.2.3",
        "cancel order A-1003 please",
    ],
)
def test_order_ids_amounts_and_dates_are_left_alone(text: str) -> None:
    assert real_guard().redact(text) == text


def _luhn_complete(body: str) -> str:
    from govcx.guardrails.payment import luhn_valid

    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(["4", "51", "55", "37", "6011", "2221"]),
    body=st.text(alphabet="0123456789", min_size=14, max_size=14),
    sep=st.sampled_from(["", " ", "-", "."]),
    lead=st.sampled_from(["", "my card is ", "pay with ", "number: "]),
)
def test_any_luhn_valid_card_in_any_layout_is_redacted(
    prefix: str, body: str, sep: str, lead: str
) -> None:
    digits = _luhn_complete((prefix + body)[:15])
    grouped = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
    redacted = real_guard().redact(f"{lead}{grouped} thanks")
    assert digits not in re.sub(r"\D", "", redacted), redacted


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)
