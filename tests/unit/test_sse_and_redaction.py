"""SSE framing and secret redaction."""

from __future__ import annotations

import logging

import pytest

from pllm.errors import ProviderError
from pllm.redaction import RedactingFilter, redact, redact_error
from pllm.sse import SSEDecoder, SSEEvent

STREAM = (b"event: message_start\ndata: {\"a\":1}\n\n: keep-alive comment\n\n"
          b"data: line one\ndata: line two\n\nid: 7\ndata:no-space\n\ndata: [DONE]\n\n")


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_sse_decoder_is_piece_size_independent(size: int) -> None:
    d = SSEDecoder()
    events: list[SSEEvent] = []
    for i in range(0, len(STREAM), size):
        events += d.feed(STREAM[i:i + size])
    events += d.flush()
    assert events == [SSEEvent(b'{"a":1}', "message_start"), SSEEvent(b"line one\nline two"),
                      SSEEvent(b"no-space", None, "7"), SSEEvent(b"[DONE]")]


@pytest.mark.parametrize("size", [1, 3, 100])
def test_sse_decoder_crlf_split_anywhere(size: int) -> None:
    data = STREAM.replace(b"\n", b"\r\n")
    d = SSEDecoder()
    events: list[SSEEvent] = []
    for i in range(0, len(data), size):
        events += d.feed(data[i:i + size])
    events += d.flush()
    assert [e.data for e in events] == [b'{"a":1}', b"line one\nline two", b"no-space",
                                        b"[DONE]"]


def test_sse_flush_returns_an_unterminated_event() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: tail") == []
    assert d.flush() == [SSEEvent(b"tail")]


def test_redact_known_secrets_and_key_shapes() -> None:
    text = ("key sk-proj-abcdefghijklmnop1234 and mine-secret-value and "
            "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig and url https://x/y?key=AIzaSyA123&b=1")
    out = redact(text, ["mine-secret-value"])
    for leaked in ("abcdefghijklmnop1234", "mine-secret-value", "payload.sig", "AIzaSyA123"):
        assert leaked not in out
    assert "[REDACTED]" in out


def test_redact_error_in_place() -> None:
    e = ProviderError("Incorrect API key provided: sk-live-0123456789abcdef",
                      upstream_status=401, provider="openai")
    assert "0123456789abcdef" not in redact_error(e, []).message
    assert "0123456789abcdef" not in str(e)


def test_log_filter(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("pllm.test.redaction")
    log.addFilter(RedactingFilter(["topsecret-value-42"]))
    with caplog.at_level(logging.INFO):
        log.info("calling with %s", "topsecret-value-42")
    assert "topsecret-value-42" not in caplog.text and "[REDACTED]" in caplog.text
