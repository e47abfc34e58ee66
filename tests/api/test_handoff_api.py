"""``GET /v1/cases/stream``, the console inbox's live feed, over a real server (the stream
never ends, so it is read with httpx streaming): who may open it, whose cases it carries,
and that it speaks again when a case changes or the customer of an open case writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govcx.api import ServerSettings
from tests.api.conftest import LiveServer, assert_error, auth
from tests.conftest import Clock

AGENT_KEYS = {"kim": "key-kim-0000000000000000", "pat": "key-pat-0000000000000000"}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {AGENT_KEYS[name]}"}


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    """The API tests' keys plus the shop pack's agents (kim: legal, pat: support)."""
    extra = ",".join(f"{key}:{name}" for name, key in AGENT_KEYS.items())
    return server_settings.model_copy(update={"api_keys": f"{server_settings.api_keys},{extra}"})


def cases_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The ``cases`` events of an open stream, as they arrive."""
    name = "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name == "cases":
            yield json.loads(line.split(":", 1)[1])


def post(api: httpx.Client, conversation_id: str, text: str) -> dict[str, Any]:
    turn: dict[str, Any] = api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": text, "customer_id": "C-1"},
        headers=auth("web"),
    ).json()
    return turn


def test_a_channel_never_opens_the_case_stream(client: TestClient) -> None:
    error = assert_error(client.get("/v1/cases/stream", headers=auth("web")), 403, "forbidden")
    assert "agent" in error["message"]
    assert_error(client.get("/v1/cases/stream"), 401, "unauthorized")
    assert_error(
        client.get("/v1/cases/stream?status=nope", headers=auth("root")), 422, "invalid_request"
    )


def test_the_stream_carries_the_callers_teams_and_every_change(
    live_server: LiveServer, clock: Clock
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        legal = post(api, "c-legal", "I will sue you")["case_id"]
        support = post(api, "c-help", "I want to talk to a human")["case_id"]
        with api.stream("GET", "/v1/cases/stream", headers=bearer("pat")) as response:
            first = next(cases_events(response))
        assert [c["case_id"] for c in first["cases"]] == [support]
        assert first["teams"] == ["support"]

        with api.stream("GET", "/v1/cases/stream", headers=bearer("kim")) as response:
            events = cases_events(response)
            first = next(events)
            assert [c["case_id"] for c in first["cases"]] == [legal]
            assert first["teams"] == ["legal"]
            assert first["at"] == clock.now  # the clock the deadlines count on
            assert first["cases"][0]["can_work"] is True
            assert first["cases"][0]["next_due"] == clock.now + 15 * 60

            # a change through the API, on a clock that has not moved
            assert api.post(f"/v1/cases/{legal}/claim", headers=bearer("kim")).is_success
            claimed = next(events)["cases"][0]
            assert (claimed["status"], claimed["assignee"]) == ("human", "kim")

            # the customer writes to kim: the case row is unchanged, the inbox hears it
            assert post(api, "c-legal", "Hello? Anyone there?")["status"] == "with_human"
            assert next(events)["cases"][0]["version"] == claimed["version"]

            assert api.post(f"/v1/cases/{legal}/handback", headers=bearer("kim")).is_success
            assert next(events)["cases"] == []  # open cases only, by default

        with api.stream(
            "GET", "/v1/cases/stream?status=all&team=legal", headers=auth("root")
        ) as response:
            everything = next(cases_events(response))
        assert [(c["case_id"], c["status"]) for c in everything["cases"]] == [
            (legal, "handed_back")
        ]
        assert everything["teams"] == ["legal", "support"]
