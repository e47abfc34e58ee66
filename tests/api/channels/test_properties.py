"""Properties of the connectors' pure parts: ids derived from channel data are always
valid and never collide across channels, and a webhook signature holds for exactly the
signed body, secret and time window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcx.agent.agent import check_id
from govcx.api.channels.gateway import conversation_id_of, external_id
from govcx.api.channels.webhook import callback_allowed, verify
from govcx.api.errors import ApiError
from govcx.api.webhooks import sign

CHANNELS = st.sampled_from(["chatwoot", "slack", "twilio", "webhook"])
NOW = 1_765_000_000


@given(st.lists(st.text(max_size=80) | st.integers(), min_size=1, max_size=4))
def test_an_id_from_any_channel_data_is_a_valid_govcx_id(parts: list[object]) -> None:
    assert check_id("customer_id", external_id(*parts))


@given(CHANNELS, CHANNELS, st.text(max_size=300), st.text(max_size=300))
def test_conversations_are_valid_and_separate_per_channel(
    one: str, other: str, external: str, other_external: str
) -> None:
    first = conversation_id_of(one, "bot", external)
    assert check_id("conversation_id", first)
    assert first == conversation_id_of(one, "bot", external)  # stable
    if (one, external) != (other, other_external):
        assert first != conversation_id_of(other, "bot", other_external)
    assert first != conversation_id_of(one, "another-bot", external)


@given(st.binary(min_size=1, max_size=300), st.text(min_size=1, max_size=40), st.data())
def test_a_webhook_signature_holds_only_for_its_body_and_secret(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    header = sign(secret, body, NOW)
    verify(secret, header, body, now=NOW + 10)
    index = data.draw(st.integers(0, len(body) - 1))
    flipped = (
        body[:index] + bytes([body[index] ^ data.draw(st.integers(1, 255))]) + body[index + 1 :]
    )
    with pytest.raises(ApiError):
        verify(secret, header, flipped, now=NOW)
    with pytest.raises(ApiError):
        verify(secret + "x", header, body, now=NOW)
    with pytest.raises(ApiError):
        verify(secret, header, body, now=NOW + 301)  # replayed later


@pytest.mark.parametrize(
    ("url", "prefix", "allowed"),
    [
        ("https://hooks.example.com/govcx/1", "https://hooks.example.com/govcx/", True),
        ("https://hooks.example.com.evil.net/govcx/", "https://hooks.example.com", False),
        ("https://hooks.example.com@evil.net/govcx/", "https://hooks.example.com", False),
        ("https://user@hooks.example.com/govcx/", "https://hooks.example.com", False),
        ("http://hooks.example.com/govcx/", "https://hooks.example.com", False),
        ("https://hooks.example.com:8443/x", "https://hooks.example.com:443", False),
        ("https://hooks.example.com/other", "https://hooks.example.com/govcx/", False),
        ("http://127.0.0.1:5000/cb", "http://127.0.0.1:", True),
        ("not a url", "https://hooks.example.com", False),
    ],
)
def test_callback_prefixes_match_the_host_not_the_string(
    url: str, prefix: str, allowed: bool
) -> None:
    assert callback_allowed(url, prefix) is allowed
